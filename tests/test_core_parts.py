"""The collection's parts: handed in from outside, and one resolution of ``--model``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TinyEncoder
from lookalike import Collection
from lookalike.core.parts import EncoderCache, default_parts
from lookalike.encoders import create_encoder, resolve_encoder, resolve_spec
from lookalike.errors import UnknownEncoderError
from test_encoders import _untrained_checkpoint


def test_a_collection_uses_the_parts_it_is_given(photos: Path, tmp_path: Path) -> None:
    """A test or an application can hand a collection its own encoder factory."""
    built: list[str] = []

    def factory(name: str, **options: object) -> TinyEncoder:
        built.append(name)
        return create_encoder(name, **options)  # type: ignore[return-value]

    root, db = photos.resolve(), photos.resolve() / ".lookalike"
    parts = default_parts(root, db)
    parts.encoders = EncoderCache(root, factory=factory)
    with Collection(root, db, parts=parts) as col:
        col.index(model="test-tiny", workers=0)
        query = tmp_path / "outside.png"
        query.write_bytes(sorted(photos.glob("variants/*.png"))[0].read_bytes())
        res = col.search(query, k=2)
        col.search(query, k=2)
    assert res.encoder == "test-tiny" and len(res) == 2
    assert built == ["test-tiny"]  # built once through the injected factory, then kept


def test_model_forms_resolve_the_same_everywhere(photos: Path) -> None:
    db = photos / ".lookalike"
    run = db / "models" / "run1"
    run.mkdir(parents=True)
    ckpt = _untrained_checkpoint(run)
    assert resolve_spec("test-tiny", db).name == "test-tiny"
    for form in (ckpt, str(run), "run1", "model1@run1"):
        spec = resolve_spec(form, db)
        assert spec.name == "autoencoder" and spec.options["checkpoint"] == ckpt, form
    with pytest.raises(UnknownEncoderError, match="no trained model 'nope'"):
        resolve_spec("model1@nope", db)
    assert resolve_encoder("run1", db, pooling="max").pooling == "max"


def test_index_takes_a_run_name_like_search(photos: Path) -> None:
    """``Collection.index(model=RUN)`` resolves the run, as ``search(model=RUN)`` does."""
    run = photos / ".lookalike" / "models" / "run1"
    run.mkdir(parents=True)
    _untrained_checkpoint(run)
    with Collection.open(photos) as col:
        report = col.index(model="run1", pooling="max", workers=0)
        assert report.encoder == "autoencoder" and report.pooling == "max"
        res = col.search(next(photos.glob("*.jpg")), k=3, model="run1", pooling="max")
        assert res.encoder == "autoencoder" and len(res) == 3
