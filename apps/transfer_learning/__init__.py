"""Transfer learning: a pre-trained backbone with a new head, trained on k labelled images per class."""
