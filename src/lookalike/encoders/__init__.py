"""Encoders turn pixels into vectors; one registry holds them all."""

from lookalike.encoders.base import Encoder, EncoderSpec, Preprocess, Vectors
from lookalike.encoders.registry import (
    EncoderInfo,
    create_encoder,
    list_encoders,
    register_encoder,
    unregister_encoder,
)
from lookalike.encoders.resolve import resolve_encoder, resolve_spec

__all__ = [
    "Encoder",
    "EncoderInfo",
    "EncoderSpec",
    "Preprocess",
    "Vectors",
    "create_encoder",
    "list_encoders",
    "register_encoder",
    "resolve_encoder",
    "resolve_spec",
    "unregister_encoder",
]
