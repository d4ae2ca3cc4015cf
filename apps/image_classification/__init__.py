"""Image classification: a configurable CNN on mnist5k (default), digits, TFDS names or image folders."""
