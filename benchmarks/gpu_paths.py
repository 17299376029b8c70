"""Every torch path of unboxed on a GPU: the same call on a CPU copy and a CUDA copy of
one network, their largest difference, and the time of each.

``BlackBox`` runs a torch module on the device of its parameters, and the explainers,
probes and piecewise tools take such black boxes (or the modules themselves). CI has
no GPU, so this is where those paths are checked: each is run on a CPU copy and a GPU
copy of the same seed-0 network, trained on sklearn's digits, and the results must
agree to float32 rounding. Writes ``results/gpu_paths.md`` and ``results/gpu_paths.json``.

    python benchmarks/gpu_paths.py [--device cuda] [--speed]

``--speed`` adds the calls at benchmark size on a LeNet trained on Fashion-MNIST (on
the device), CPU against GPU. ``--ties`` runs, on the CPU alone, the study of why a
LeNet's gradient attributions differ between devices by more than rounding
(``results/gpu_paths_ties.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from _common import TRAINING, cached_model, machine, write_results

from unboxed import load_dataset, zoo
from unboxed.explanation import Explanation
from unboxed.local import (
    DeepLift,
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    Lime,
    Occlusion,
    Saliency,
    SmoothGrad,
)
from unboxed.piecewise import (
    DecisionNet,
    Distiller,
    LinearRegions,
    boundary_segments,
    plot_decision_boundaries,
    regions_in_box,
    to_plnn,
)
from unboxed.probes import ActivationMaximization
from unboxed.surrogates import JGMMExplainer

MOONS_BOX = (-1.5, 2.5, -1.0, 1.5)
#: name -> (network, call on one copy returning arrays)
CHECKS: dict[str, tuple[str, Callable[..., Any]]] = {}
#: The names of the checks timed at benchmark size on Fashion-MNIST.
SPEED: set[str] = set()


def check(name: str, network: str, *, speed: bool = False) -> Callable:
    """Register ``fn(model, data)`` as the check ``name`` on the ``network``."""

    def register(fn: Callable) -> Callable:
        CHECKS[name] = (network, fn)
        if speed:
            SPEED.add(name)
        return fn

    return register


def _arrays(out: Any) -> list[np.ndarray]:
    """The numbers in a check's result, as float64 arrays."""
    if isinstance(out, Explanation):
        return [np.asarray(out.values, dtype=np.float64)]
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in _arrays(item)]
    return [np.asarray(out, dtype=np.float64)]


def _blackbox(model: Any) -> Any:
    return zoo.as_blackbox(model, batch_size=256)


@check("BlackBox.predict_proba", "lenet")
def _proba(model, data):
    return _blackbox(model).predict_proba(data.X_test)


@check("BlackBox.gradient", "lenet")
def _gradient(model, data):
    return _blackbox(model).gradient(data.X_test[:200], data.y_test[:200])


@check("BlackBox.features", "lenet")
def _features(model, data):
    return _blackbox(model).features(data.X_test[:200], "act3")


GRADIENT_EXPLAINERS = {
    "Saliency": Saliency,
    "InputXGradient": InputXGradient,
    "IntegratedGradients": IntegratedGradients,
    "DeepLift": DeepLift,
    "SmoothGrad": SmoothGrad,
}
for _name, _cls in GRADIENT_EXPLAINERS.items():
    _seed = {"random_state": 0} if _cls is SmoothGrad else {}
    check(_name, "lenet")(
        lambda model, data, cls=_cls, seed=_seed: cls(_blackbox(model), **seed).explain(
            data.X_test[:100]
        )
    )


@check("Lime", "lenet")
def _lime(model, data):
    return Lime(_blackbox(model), n_samples=200, random_state=0).explain(data.X_test[:5])


@check("KernelShap", "lenet")
def _kernel_shap(model, data):
    return KernelShap(_blackbox(model), n_samples=200, random_state=0).explain(data.X_test[:5])


@check("Occlusion", "lenet")
def _occlusion(model, data):
    return Occlusion(_blackbox(model)).explain(data.X_test[:20])


@check("ActivationMaximization", "lenet")
def _activation_max(model, data):
    search = ActivationMaximization(_blackbox(model), steps=50, random_state=0)
    out = search.explain()
    return [out.values, out.activation]


@check("ActivationMaximization, hidden units", "lenet")
def _activation_max_units(model, data):
    search = ActivationMaximization(_blackbox(model), steps=50, random_state=0)
    return search.explain([0, 1, 2], layer="act3").values


@check("ActivationMaximization, VAE generator", "lenet")
def _activation_max_vae(model, data):
    generator = zoo.vae(n_features=64, latent_dim=4, hidden=(32,), random_state=0)
    zoo.train_vae(generator, data.X_train, epochs=2, random_state=0, verbose=False)
    search = ActivationMaximization(_blackbox(model), generator=generator, steps=50, random_state=0)
    return search.explain().values


@check("LinearRegions.explain", "mlp")
def _regions(model, data):
    regions = LinearRegions(model)
    out = regions.explain(data.X_test[:100])
    return [out.values, regions.activation_pattern(data.X_test[:100])]


@check("LinearRegions.polytope", "mlp")
def _polytope(model, data):
    return list(LinearRegions(model).polytope(data.X_test[0]))


@check("to_plnn + LinearRegions", "tanh-mlp")
def _plnn(model, data):
    plnn = to_plnn(model, 6, verbose=False)
    return LinearRegions(plnn, input_shape=(64,)).logits(data.X_test[:100])


@check("regions_in_box, boundary_segments", "2d-mlp")
def _walk(model, data):
    regions = LinearRegions(model)
    found = regions_in_box(regions, MOONS_BOX, resolution=10)
    segments = boundary_segments(regions, MOONS_BOX, resolution=10)
    return [np.sort([r.point[0] for r in found]), np.concatenate(segments).ravel()]


@check("plot_decision_boundaries", "2d-mlp")
def _plot(model, data):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    moons = load_dataset("moons")
    # A tanh on the logits keeps the boundary but is not piecewise linear, so the
    # second panel takes the other path: the zero contour of the logit difference.
    smooth = torch.nn.Sequential(model, torch.nn.Tanh())
    fig = plot_decision_boundaries(
        [("exact", model), ("smooth", smooth)], moons.X_test, moons.y_test, resolution=40
    )
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba(), dtype=np.float64)


@check("JGMMExplainer", "lenet")
def _jgmm(model, data):
    explainer = JGMMExplainer(
        _blackbox(model),
        lower_layer="act3",
        n_components_x=4,
        max_iter=20,
        random_state=0,
        verbose=False,
    )
    return explainer.fit(data.X_train[:600]).predict_proba(data.X_test[:100])


@check("Distiller (teacher on the device)", "lenet")
def _distill(model, data):
    student = Distiller(
        widths=(32,), grid={"temperature": (2.0,), "alpha": (0.5,)}, epochs=2, verbose=False
    )
    return student.fit(_blackbox(model), data.X_train[:600]).predict_proba(data.X_test[:100])


@check("zoo.accuracy", "lenet")
def _accuracy(model, data):
    x = torch.as_tensor(data.X_test, dtype=torch.float32).reshape(-1, *model.input_shape)
    return zoo.accuracy(model, x, torch.as_tensor(data.y_test))


@check("zoo.save + zoo.load", "lenet")
def _save_load(model, data):
    with tempfile.TemporaryDirectory() as folder:
        zoo.save(model, folder)
        loaded = zoo.load(folder)
    return _blackbox(loaded).predict_proba(data.X_test)


@check("zoo.train (one epoch, from the same start)", "lenet-untrained")
def _train(model, data):
    zoo.train(model, data, epochs=1, random_state=0, verbose=False)
    return _blackbox(model).predict_proba(data.X_test)


@check("zoo.train_vae, VAE.elbo, VAE.sample", "vae-untrained")
def _vae(model, data):
    zoo.train_vae(model, data.X_train, epochs=2, random_state=0, verbose=False)
    return [model.elbo(data.X_test[:100]), model.sample(10)]


@check("LinearRegions.explain, max pooling", "lenet")
def _regions_lenet(model, data):
    return LinearRegions(model).explain(data.X_test[:50])


@check("DecisionNet", "2d-mlp")
def _decisionnet(model, data):
    moons = load_dataset("moons")
    twin = DecisionNet(model, verbose=False).fit(moons.X_train)
    return twin.predict(moons.X_test)


# The speed checks: the same calls at the size of the benchmarks, on a LeNet trained on
# Fashion-MNIST (on the device), for 1000 test images unless said otherwise.
N_SPEED = 1000


@check("speed: BlackBox.predict_proba, 10000 images", "fmnist-lenet", speed=True)
def _speed_proba(model, data):
    return _blackbox(model).predict_proba(data.X_test)


for _name, _cls, _kwargs in [
    ("Saliency", Saliency, {}),
    ("IntegratedGradients, 50 steps", IntegratedGradients, {}),
    ("DeepLift", DeepLift, {}),
    ("SmoothGrad, 25 samples", SmoothGrad, {"random_state": 0}),
]:
    check(f"speed: {_name}", "fmnist-lenet", speed=True)(
        lambda model, data, cls=_cls, kw=_kwargs: cls(_blackbox(model), **kw).explain(
            data.X_test[:N_SPEED]
        )
    )


@check("speed: Occlusion, 4x4 windows at stride 2", "fmnist-lenet", speed=True)
def _speed_occlusion(model, data):
    return Occlusion(_blackbox(model)).explain(data.X_test[:N_SPEED])


@check("speed: Lime, 1000 samples, 100 images", "fmnist-lenet", speed=True)
def _speed_lime(model, data):
    return Lime(_blackbox(model), n_samples=1000, random_state=0).explain(data.X_test[:100])


@check("speed: KernelShap, 1000 samples, 100 images", "fmnist-lenet", speed=True)
def _speed_shap(model, data):
    return KernelShap(_blackbox(model), n_samples=1000, random_state=0).explain(data.X_test[:100])


@check("speed: ActivationMaximization, 200 steps, 10 classes", "fmnist-lenet", speed=True)
def _speed_am(model, data):
    return ActivationMaximization(_blackbox(model), random_state=0).explain().values


def networks(data: Any) -> dict[str, Any]:
    """The seed-0 networks the path checks use, trained on the CPU."""
    lenet = zoo.lenet(input_shape=(1, 8, 8), random_state=0)
    untrained = copy.deepcopy(lenet)
    zoo.train(lenet, data, epochs=5, random_state=0, verbose=False)
    mlp = zoo.mlp((32, 16), n_features=64, random_state=0)
    zoo.train(mlp, data, epochs=5, random_state=0, verbose=False)
    tanh = zoo.mlp((16,), "tanh", n_features=64, random_state=0)
    zoo.train(tanh, data, epochs=5, random_state=0, verbose=False)
    flat = zoo.mlp((8, 8), n_features=2, n_classes=2, random_state=0)
    zoo.train(flat, load_dataset("moons"), epochs=20, random_state=0, verbose=False)
    return {
        "lenet": lenet,
        "lenet-untrained": untrained,
        "mlp": mlp,
        "tanh-mlp": tanh,
        "2d-mlp": flat,
        "vae-untrained": zoo.vae(n_features=64, latent_dim=4, hidden=(32,), random_state=0),
    }


def speed_network(data: Any, device: str, epochs: int | None) -> tuple[Any, dict]:
    """The seed-0 LeNet with the benchmarks' Fashion-MNIST settings, trained on
    ``device``; and the time of one epoch from the same start on each machine."""
    start = zoo.build("lenet", input_shape=data.input_shape, n_classes=10, random_state=0)
    settings = dict(TRAINING[("lenet", data.name)])
    settings["epochs"] = epochs or settings["epochs"]
    epoch_s = {}
    for where in ("cpu", device):
        one = copy.deepcopy(start).to(where)
        epoch_s[where] = zoo.train(one, data, epochs=1, random_state=0, verbose=False).seconds
    model = copy.deepcopy(start).to(device)
    result = zoo.train(model, data, random_state=0, verbose=False, **settings)
    record = {
        "epochs": settings["epochs"],
        "test_accuracy": result.test_accuracy,
        "train_s": result.seconds,
        "cpu_epoch_s": epoch_s["cpu"],
        "device_epoch_s": epoch_s[device],
    }
    return model.cpu(), record


def run_check(fn: Callable, model: Any, data: Any, device: str) -> tuple[list, float]:
    """``fn`` on a copy of ``model`` on ``device``: its arrays and its wall time."""
    copied = copy.deepcopy(model).to(device)
    start = time.perf_counter()
    out = _arrays(fn(copied, data))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def run_checks(
    checks: dict, nets: dict, data: Any, device: str, *, strict_fp32: bool = False
) -> list[dict]:
    """Each check on the CPU and on ``device``; a failing one is reported, not raised.

    With ``strict_fp32`` each also runs on ``device`` with cuDNN's TF32 convolutions
    off. PyTorch turns them on by default, and their 10-bit mantissa, not a wrong
    path, is what separates a convolutional network's GPU results from the CPU's.
    """
    rows = []
    for name, (network, fn) in checks.items():
        row: dict[str, Any] = {"check": name, "network": network}
        try:
            cpu, row["cpu_s"] = run_check(fn, nets[network], data, "cpu")
            dev, row["device_s"] = run_check(fn, nets[network], data, device)
            row["max_abs_diff"] = _max_diff(cpu, dev)
            if strict_fp32:
                with _cudnn_tf32(False):
                    fp32, row["device_fp32_s"] = run_check(fn, nets[network], data, device)
                row["max_abs_diff_fp32"] = _max_diff(cpu, fp32)
            row["status"] = "ok"
        except Exception as err:  # report every failing path, then go on
            row["status"] = f"{type(err).__name__}: {err}"[:300]
            row["where"] = traceback.format_exc().splitlines()[-6:]
        rows.append(row)
        print(row, flush=True)
    return rows


def _max_diff(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a - b), initial=0)) for a, b in zip(first, second, strict=True))


@contextlib.contextmanager
def _cudnn_tf32(allowed: bool) -> Iterator[None]:
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def tie_study(data: Any, n_images: int = 1000) -> dict:
    """Why a LeNet's gradient attributions differ between devices by more than float32
    rounding, on the CPU alone: the share of max-pooling windows whose maximum is tied
    (a flat background gives every window the same ReLU(bias)), where the gradient's
    route is the implementation's choice; and how far the attributions move when the
    images move by at most 1e-6."""
    model = cached_model("lenet", data.name)
    box = zoo.as_blackbox(model)
    X = data.X_test[:n_images]
    target = box.predict(X)
    noise = np.random.default_rng(0).uniform(-1e-6, 1e-6, X.shape)
    nudged = np.clip(X + noise, 0.0, 1.0)
    moved = {}
    for cls in (Saliency, DeepLift, IntegratedGradients):
        before = cls(box).explain(X, target=target).values
        after = cls(box).explain(nudged, target=target).values
        moved[cls.__name__] = {
            "max_abs_attribution": float(np.abs(before).max()),
            "max_abs_change": float(np.abs(after - before).max()),
        }
    return {"n_images": n_images, "ties": _pool_ties(model, X), "attribution_moves": moved}


def _pool_ties(model: Any, X: np.ndarray) -> dict:
    """Per max-pooling layer: the share of windows with a tied positive maximum, and
    the share of images with at least one."""
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda _m, i, _o, name=name: inputs.__setitem__(name, i[0]))
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.MaxPool2d)
    ]
    try:
        with torch.no_grad():
            model(torch.as_tensor(X, dtype=torch.float32).reshape(-1, *model.input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    out = {}
    for name, t in inputs.items():
        windows = torch.nn.functional.unfold(t.flatten(0, 1)[:, None], 2, stride=2)
        top = windows.max(1, keepdim=True).values
        tied = ((windows == top).sum(1) > 1) & (top[:, 0] > 0)
        per_image = tied.reshape(t.shape[0], -1)
        out[name] = {
            "windows": float(tied.float().mean()),
            "images": float(per_image.any(1).float().mean()),
        }
    return out


def _ties_markdown(study: dict, info: dict) -> str:
    lines = [
        "# Why gradient attributions differ between devices",
        "",
        "The seed-0 LeNet on Fashion-MNIST (`~/.cache/unboxed/models`, trained on this",
        f"CPU), its first {study['n_images']} test images, on the CPU alone; torch",
        f"{info['torch']}. Written by `benchmarks/gpu_paths.py --ties`.",
        "",
        "Max pooling with a tied positive maximum: the gradient takes one of the tied",
        "inputs, and which one is each implementation's choice (CPU, cuDNN).",
        "",
        "| layer | windows with a tie | images with a tie |",
        "|---|---:|---:|",
    ]
    for name, share in study["ties"].items():
        lines.append(f"| {name} | {share['windows']:.4f} | {share['images']:.3f} |")
    lines += [
        "",
        "Each image moved by uniform noise of at most 1e-6 per pixel (clipped to [0, 1]):",
        "",
        "| method | largest attribution | largest change |",
        "|---|---:|---:|",
    ]
    for method, moved in study["attribution_moves"].items():
        lines.append(
            f"| {method} | {moved['max_abs_attribution']:.4g} | {moved['max_abs_change']:.4g} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--speed", action="store_true", help="also the Fashion-MNIST timings")
    parser.add_argument("--epochs", type=int, default=None, help="fewer, for a smoke run")
    parser.add_argument("--ties", action="store_true", help="only the CPU tie study")
    parser.add_argument("--name", default="gpu_paths", help="results file name")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.ties:
        study = tie_study(load_dataset("fashion-mnist"))
        write_results(f"{args.name}_ties", _ties_markdown(study, machine()), study)
        return
    digits = load_dataset("digits")
    nets = networks(digits)
    # Start CUDA and cuDNN outside the timings.
    _blackbox(copy.deepcopy(nets["lenet"]).to(args.device)).gradient(digits.X_test[:10], 0)
    paths = {k: v for k, v in CHECKS.items() if k not in SPEED}
    rows = run_checks(paths, nets, digits, args.device)
    training, speed_rows = None, []
    if args.speed:
        fashion = load_dataset("fashion-mnist")
        lenet, training = speed_network(fashion, args.device, args.epochs)
        speed = {k: v for k, v in CHECKS.items() if k in SPEED}
        speed_rows = run_checks(
            speed, {"fmnist-lenet": lenet}, fashion, args.device, strict_fp32=True
        )
    info = machine() | {"device": args.device, "gpu": _gpu_name(args.device)}
    data = {"machine": info, "checks": rows, "training": training, "speed": speed_rows}
    write_results(args.name, _markdown(rows, training, speed_rows, info), data)


def _gpu_name(device: str) -> str | None:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else None


def _table(rows: list[dict], strict_fp32: bool = False) -> list[str]:
    diffs, times = ["max_abs_diff"], ["cpu_s", "device_s"]
    head = "| check | network | status | max abs diff |"
    if strict_fp32:
        diffs, times = [*diffs, "max_abs_diff_fp32"], [*times, "device_fp32_s"]
        head += " max abs diff, TF32 off |"
    head += " CPU s | device s |" + (" device s, TF32 off |" if strict_fp32 else "")
    lines = [head, "|---|---|---|" + "---:|" * (len(diffs) + len(times))]
    for r in rows:
        cells = [f"{r[k]:.2e}" if k in r else "" for k in diffs]
        cells += [f"{r[k]:.3f}" if k in r else "" for k in times]
        lines.append(f"| {r['check']} | {r['network']} | {r['status']} | {' | '.join(cells)} |")
    return lines


def _markdown(rows: list[dict], training: dict | None, speed: list[dict], info: dict) -> str:
    lines = [
        "# Torch paths on a GPU against the CPU",
        "",
        f"Device: {info['device']} ({info['gpu']}); torch {info['torch']}, "
        f"{info['torch_threads']} CPU threads. Written by `benchmarks/gpu_paths.py`.",
        "",
        "## Paths (sklearn digits, seed-0 networks trained on the CPU)",
        "",
        "Each call runs on a CPU copy and a device copy of the same network; the",
        "largest absolute difference of their results is float32 rounding where the",
        "path is right. The times are single runs of small calls, first-call costs",
        "included: they say nothing about speed.",
        "",
        *_table(rows),
    ]
    if training is not None:
        lines += [
            "",
            "## Speed (Fashion-MNIST, LeNet trained on the device)",
            "",
            f"Training: {training['epochs']} epochs on the device in "
            f"{training['train_s']:.1f} s, test accuracy {training['test_accuracy']:.4f}. "
            f"One epoch from the same start: {training['cpu_epoch_s']:.1f} s on the CPU, "
            f"{training['device_epoch_s']:.1f} s on the device. One run of each call.",
            "",
            "PyTorch may run convolutions on the GPU in TF32 (a 10-bit mantissa); the",
            "second difference column turns that off. The gradient rows (Saliency,",
            "DeepLift, IntegratedGradients, SmoothGrad, activation maximization) differ",
            "by more than float32 rounding either way: `gpu_paths_ties.md` measures why",
            "(max-pool ties on the images' flat background, which each device breaks",
            "its own way, and attributions that jump under 1e-6 of input noise).",
            "",
            *_table(speed, strict_fp32=True),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
