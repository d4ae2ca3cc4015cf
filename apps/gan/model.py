"""DCGAN and conditional GAN builders, and the `GAN` model that trains them with one `fit()` call."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

LOSSES = ("bce", "wgan_gp")


def _check_image_shape(image_shape) -> tuple[int, int, int]:
    height, width, channels = (int(d) for d in image_shape)
    if height % 4 or width % 4:
        raise ValueError(f"the GAN upsamples twice by 2, so image sides must be multiples of 4, not {height}x{width}; "
                         "set image_size (e.g. --set image_size=32)")
    return height, width, channels


def build_generator(latent_dim: int, image_shape, num_classes: int = 0, *, width: int = 64,
                    embedding_dim: int = 32) -> keras.Model:
    """A DCGAN generator: a dense projection to a quarter-size map, two stride-2 transposed convolutions, tanh.

    Args:
        latent_dim: length of the noise vector.
        image_shape: (height, width, channels) of the images; the sides must be multiples of 4.
        num_classes: 0 for an unconditional generator (input: noise); otherwise it also takes an
            integer label, embedded and concatenated to the noise (input: [noise, label]).
        width: filters of the last hidden layer; the quarter-size map has twice as many.
        embedding_dim: label embedding size (conditional only).

    Returns images in [-1, 1].

    Example:
        >>> build_generator(16, (28, 28, 1), 10, width=8).output_shape
        (None, 28, 28, 1)
    """
    height, image_width, channels = _check_image_shape(image_shape)
    noise = keras.Input((latent_dim,), name="noise")
    inputs, x = [noise], noise
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        embedded = layers.Embedding(num_classes, embedding_dim, name="label_embedding")(label)
        x = layers.Concatenate(name="noise_and_label")([noise, embedded])
        inputs.append(label)
    x = layers.Dense(height // 4 * image_width // 4 * width * 2, use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((height // 4, image_width // 4, width * 2))(x)
    for block, filters in enumerate((width * 2, width)):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name=f"up{block + 1}")(x)
        x = layers.BatchNormalization(name=f"up{block + 1}_bn")(x)
        x = layers.ReLU()(x)
    x = layers.Conv2D(channels, 3, padding="same", name="to_image")(x)
    # float32 output keeps tanh and the losses stable under mixed precision.
    outputs = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(inputs if num_classes else noise, outputs, name="generator")


def build_discriminator(image_shape, num_classes: int = 0, *, width: int = 64, dropout: float = 0.3) -> keras.Model:
    """A DCGAN discriminator (or WGAN critic): two stride-2 convolutions with leaky ReLU, one logit.

    No batch normalisation: WGAN-GP's gradient penalty is per example, which batch statistics break.
    The conditional one is a projection discriminator (Miyato & Koyama, 2018): the logit is
    `dense(features) + <embedding(label), features>`, which ties the score to the requested class
    more tightly than feeding the label in as extra channels.

    Args:
        image_shape: (height, width, channels) of images in [-1, 1].
        num_classes: 0 for unconditional (input: image); otherwise input [image, label].
        width: filters of the first convolution; the second has twice as many.
        dropout: dropout rate on the features.

    Example:
        >>> build_discriminator((28, 28, 1), 10, width=8).output_shape
        (None, 1)
    """
    _check_image_shape(image_shape)
    image = keras.Input(tuple(image_shape), name="image")
    x = image
    for block, filters in enumerate((width, width * 2)):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{block + 1}")(x)
        x = layers.LeakyReLU(0.2)(x)
    features = layers.Flatten(name="features")(x)
    if dropout:
        features = layers.Dropout(dropout)(features)
    logit = layers.Dense(1, name="logit", dtype="float32")(features)
    if not num_classes:
        return keras.Model(image, logit, name="discriminator")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, features.shape[-1], name="label_projection")(label)
    projection = layers.Dot(axes=1, name="projection", dtype="float32")([embedded, features])
    logit = layers.Add(name="conditional_logit", dtype="float32")([logit, projection])
    return keras.Model([image, label], logit, name="discriminator")


def to_pixels(images):
    """Generator output in [-1, 1] to the data's pixel range 0..255."""
    return (ops.cast(images, "float32") + 1.0) * 127.5


def from_pixels(images):
    """Pixels 0..255 to the [-1, 1] range the discriminator sees."""
    return ops.cast(images, "float32") / 127.5 - 1.0


@keras.saving.register_keras_serializable(package="dlsuite")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other by `fit()` on (image, label) batches.

    `train_step` updates the discriminator `d_steps` times, then the generator once, each with its
    own optimizer. Losses: "bce" is the non-saturating GAN loss (DCGAN); "wgan_gp" is the
    Wasserstein loss with a gradient penalty on interpolates between real and generated images
    (Gulrajani et al., 2017), usually with `d_steps=5`. Conditional when `num_classes > 0`: both
    networks also take the label, and the generator is trained on the batch's real labels.

    Calling the model generates images in pixel range 0..255 from noise (and labels), with the
    averaged generator where there is one. Images fed
    to `fit` are in pixel range too (0..255, as the suite's datasets give them).

    Args:
        generator: noise -> images in [-1, 1] (conditional: [noise, label] -> images).
        discriminator: images in [-1, 1] -> logit (conditional: [image, label] -> logit).
        latent_dim: noise length.
        num_classes: 0 for a DCGAN, else the number of classes of the conditional GAN.
        seed: seed of the `SeedGenerator` that draws the training noise.
        ema_decay: if > 0, a copy of the generator whose weights follow an exponential moving
            average of the trained ones (decay per generator step) draws the samples: GAN weights
            oscillate from step to step, their average much less (Yazıcı et al., 2019).

    Example:
        >>> gan = GAN(build_generator(8, (8, 8, 1), 2, width=4), build_discriminator((8, 8, 1), 2, width=4), 8, 2)
        >>> gan.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4))
        >>> gan.generate(4, labels=[0, 1, 0, 1]).shape
        TensorShape([4, 8, 8, 1])
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, num_classes: int = 0,
                 seed: int = 0, ema_decay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.seed = seed
        self.ema_decay = ema_decay
        self.ema_generator = None
        if ema_decay:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        # Their sum, under the name the suite's NaN stop watches, so divergence of either network stops the run.
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True  # both networks are built functional models; BackupAndRestore and loading need this

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                loss: str = "bce", gp_weight: float = 10.0, d_steps: int = 1, **kwargs):
        """Sets the two optimizers and the loss ("bce" or "wgan_gp"); `kwargs` go to `keras.Model.compile`."""
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r} is not one of: {', '.join(LOSSES)}")
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Built now, so a resumed fit (BackupAndRestore builds only `model.optimizer`) restores their slots too.
        d_optimizer.build(self.discriminator.trainable_weights)
        g_optimizer.build(self.generator.trainable_weights)
        self.loss_name = loss
        self.gp_weight = gp_weight
        self.d_steps = d_steps

    def get_compile_config(self):
        return None  # two optimizers: a loaded model is recompiled by whoever trains it further

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.loss_tracker]

    # --- generation -------------------------------------------------------------------------
    def _generator_inputs(self, noise, labels):
        return [noise, labels] if self.num_classes else noise

    def _discriminate(self, images, labels, training):
        return self.discriminator([images, labels] if self.num_classes else images, training=training)

    @property
    def inputs(self):
        """The generator's inputs (noise, and label): what calling the model, and its exported endpoint, take."""
        return self.generator.inputs

    def call(self, inputs, training=False):
        """Images in pixel range from noise (DCGAN) or [noise, labels] (conditional GAN)."""
        if self.ema_generator is not None:
            return to_pixels(self.ema_generator(inputs, training=False))
        return to_pixels(self.generator(inputs, training=training))

    def generate(self, count: int, labels=None, seed: int | None = None):
        """`count` images in pixel range; conditional GANs need `labels` (one per image).

        With a `seed`, the noise is reproducible; without one, it comes from the model's generator.
        """
        rng = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        noise = keras.random.normal((count, self.latent_dim), seed=rng)
        if self.num_classes:
            if labels is None:
                raise ValueError("a conditional GAN needs one label per image")
            labels = ops.convert_to_tensor(labels, "int32")
        return self(self._generator_inputs(noise, labels), training=False)

    # --- losses -----------------------------------------------------------------------------
    def _d_loss(self, real_logits, fake_logits):
        if self.loss_name == "wgan_gp":
            return ops.mean(fake_logits) - ops.mean(real_logits)
        bce = keras.losses.binary_crossentropy
        return ops.mean(bce(ops.ones_like(real_logits), real_logits, from_logits=True)
                        + bce(ops.zeros_like(fake_logits), fake_logits, from_logits=True))

    def _g_loss(self, fake_logits):
        if self.loss_name == "wgan_gp":
            return -ops.mean(fake_logits)
        # Non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))).
        return ops.mean(keras.losses.binary_crossentropy(ops.ones_like(fake_logits), fake_logits, from_logits=True))

    def _gradient_penalty(self, real, fake, labels):
        """(||grad_x D(x)||_2 - 1)^2 at random points between real and generated images."""
        alpha = keras.random.uniform((ops.shape(real)[0], 1, 1, 1), seed=self.seed_generator)
        mixed = real + alpha * (fake - real)
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            logits = self._discriminate(mixed, labels, training=True)
        grads = tape.gradient(logits, mixed)
        norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)
        return ops.mean(ops.square(norms - 1.0))

    def _noise(self, batch):
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    # --- training ---------------------------------------------------------------------------
    def train_step(self, data):
        images, labels = data
        real = from_pixels(images)
        batch = ops.shape(real)[0]
        for _ in range(self.d_steps):
            fake = self.generator(self._generator_inputs(self._noise(batch), labels), training=True)
            with tf.GradientTape() as tape:
                d_loss = self._d_loss(self._discriminate(real, labels, True), self._discriminate(fake, labels, True))
                if self.loss_name == "wgan_gp":
                    d_loss = d_loss + self.gp_weight * self._gradient_penalty(real, fake, labels)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

        with tf.GradientTape() as tape:
            fake = self.generator(self._generator_inputs(self._noise(batch), labels), training=True)
            g_loss = self._g_loss(self._discriminate(fake, labels, True))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        if self.ema_generator is not None:
            # All weights, batch-norm statistics included.
            for average, weight in zip(self.ema_generator.weights, self.generator.weights):
                average.assign(self.ema_decay * average + (1.0 - self.ema_decay) * weight)
        return self._track(d_loss, g_loss)

    def test_step(self, data):
        """Both losses on held-out real images and fresh samples, without updates (and without the penalty)."""
        images, labels = data
        real = from_pixels(images)
        fake = self.generator(self._generator_inputs(self._noise(ops.shape(real)[0]), labels), training=False)
        fake_logits = self._discriminate(fake, labels, False)
        real_logits = self._discriminate(real, labels, False)
        return self._track(self._d_loss(real_logits, fake_logits), self._g_loss(fake_logits))

    def _track(self, d_loss, g_loss):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.loss_tracker.update_state(d_loss + g_loss)
        return {m.name: m.result() for m in self.metrics}

    # --- serialisation ----------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "seed": self.seed,
            "ema_decay": self.ema_decay,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
