"""Which vector set a call means (the latest, or the one of a model, pooling or key), and
what the vector sets of a collection are (``info``)."""

from __future__ import annotations

from pathlib import Path

from lookalike.config import DEFAULT_ENCODER, DEFAULT_METRIC, DEFAULT_POOLING
from lookalike.encoders.resolve import TRAINED_OPTIONS, resolve_spec
from lookalike.errors import NotIndexedError
from lookalike.results import CollectionInfo, IndexStats, Skipped, VectorSetInfo
from lookalike.store import Catalog, VectorSetRow


def select_set(
    catalog: Catalog,
    root: Path,
    db: Path,
    model: str | None = None,
    pooling: str | None = None,
    key: str | None = None,
    precision: str | None = None,
) -> VectorSetRow:
    """The set a call means: among the non-empty sets that match every filter, the
    collection's default (the set of the last ``index`` run), else the default encoder's,
    else the most recently written.

    ``model`` is resolved like everywhere else (a registered name, a run, a checkpoint);
    a trained model also matches on its checkpoint, so two runs never share a set.
    """
    sets = [s for s in catalog.vector_sets() if s.count]
    if key:
        sets = [s for s in sets if s.key == key]
    if model:
        spec = resolve_spec(model, db)
        sets = [s for s in sets if s.encoder == spec.name]
        for option in TRAINED_OPTIONS:
            if option in spec.options:
                sets = [s for s in sets if s.options.get(option) == spec.options[option]]
    if pooling:
        sets = [s for s in sets if s.pooling == pooling]
    if precision:
        sets = [s for s in sets if s.options.get("precision", "fp32") == precision]
    if not sets:
        what = " ".join(x for x in (model, pooling and f"pooling={pooling}", precision) if x)
        hint = f" --model {model}" if model else ""
        hint += f" --pooling {pooling}" if pooling else ""
        hint += f" --precision {precision}" if precision else ""
        raise NotIndexedError(
            f"{root} has no vectors{' for ' + what if what else ''}; "
            f"run: lookalike index {root}{hint}"
        )
    chosen = catalog.default_set_key()
    for s in sets:
        if s.key == chosen:
            return s
    for s in sets:
        if s.encoder == DEFAULT_ENCODER and s.pooling in (DEFAULT_POOLING, None):
            return s
    return sets[0]


def collection_info(
    catalog: Catalog, root: Path, db: Path, *, measures_version: str | None = None
) -> CollectionInfo:
    """What is indexed, with which encoders and search indexes, and what was skipped;
    ``measures_version``: count only the pixel measures of that verifier version."""
    counts = catalog.counts()
    sets = []
    default = (
        select_set(catalog, root, db).key if any(s.count for s in catalog.vector_sets()) else None
    )
    for s in catalog.vector_sets():
        kind, options, stats = catalog.index_config(s.id) or ("auto", {}, {})
        sets.append(
            VectorSetInfo(
                s.key,
                s.encoder,
                s.pooling,
                s.image_size,
                s.dim,
                s.count,
                s.updated_at,
                kind,
                options,
                IndexStats.from_dict(stats.get(DEFAULT_METRIC, {})),
                s.key == default,
            )
        )
    return CollectionInfo(
        root=root,
        db=db,
        files=sum(counts.values()),
        ok=counts.get("ok", 0),
        skipped=[Skipped(p, r) for p, r in catalog.skipped()],
        vector_sets=sets,
        measures_kept=catalog.measures_kept(measures_version),
    )
