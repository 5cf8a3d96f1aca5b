"""Registers the built-in encoders, exactly as a plugin registers its own."""

from __future__ import annotations

from functools import partial

from lookalike.encoders.autoencoder import AutoencoderEncoder
from lookalike.encoders.efficientnet import EfficientNetLiteEncoder
from lookalike.encoders.handcrafted import AverageRGBEncoder, ColorHistogramEncoder
from lookalike.encoders.metric_head import MetricHeadEncoder
from lookalike.encoders.registry import register_encoder


def register() -> None:
    """Entry point of the ``lookalike.encoders`` group for the built-ins."""
    register_encoder(
        "efficientnet-lite0",
        partial(EfficientNetLiteEncoder, "lite0"),
        description="EfficientNet-Lite0, ImageNet weights, 224 px; 1584-d multi-depth "
        "vectors (1280-d with --pooling avg or max); the default",
        default=True,
        replace=True,
    )
    register_encoder(
        "efficientnet-lite2",
        partial(EfficientNetLiteEncoder, "lite2"),
        description="EfficientNet-Lite2, ImageNet weights, 260 px; 1608-d multi-depth "
        "vectors (1280-d with avg or max); slower",
        replace=True,
    )
    register_encoder(
        "color-histogram",
        ColorHistogramEncoder,
        description="joint RGB histogram, 8 levels per channel (512-d); no weights",
        replace=True,
    )
    register_encoder(
        "autoencoder",
        AutoencoderEncoder,
        description="one of the report's four autoencoders trained with `lookalike train` "
        "(--model PATH/best.pt or a run name); flatten, max or avg of the latent",
        replace=True,
    )
    register_encoder(
        "metric-head",
        MetricHeadEncoder,
        description="a metric head trained on the collection with `lookalike train --arch "
        "metric` (--model RUN): the backbone's vectors through a learned projection",
        replace=True,
    )
    register_encoder(
        "average-rgb",
        AverageRGBEncoder,
        description="mean colour (3-d); no weights",
        replace=True,
    )
