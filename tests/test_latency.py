"""Latency backends: ONNX Runtime and the lookup table on real models, TFLite, ADB with a fake adb."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from gramnas import GramError, MetaGraph, build_model, count_macs, preset_space
from gramnas.latency import LatencyBackend, LatencyResult, get_backend
from gramnas.latency.adb import AdbBackend, device_lock, parse_benchmark_output
from gramnas.latency.lut import FEATURES, LutBackend, fit_correction, overhead_key, piece_key
from gramnas.model import ConvBNELU

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def small_archs():
    metagraph = MetaGraph.create(preset_space("small", input_size=16), seed=0, density=0.2)
    return [metagraph.sample(np.random.default_rng(i)) for i in range(4)]


def test_onnxruntime_measures_a_real_model(small_archs):
    result = get_backend("onnxruntime", threads=1, warmup=3, runs=20).measure(small_archs[0])
    assert result.backend == "onnxruntime" and result.threads == 1 and result.runs == 20
    assert 0 < result.median_ms <= result.p90_ms < 1000
    assert result.runtime_version and result.device
    module = nn.Sequential(ConvBNELU(3, 16, 3), nn.AdaptiveAvgPool2d(1))
    assert get_backend("onnxruntime", runs=5).measure(module, (3, 16, 16)).median_ms > 0


def test_onnxruntime_repeats_within_five_percent():
    backend = get_backend("onnxruntime", threads=1, warmup=50, runs=300)
    model = nn.Sequential(
        *[ConvBNELU(64, 64, 3) for _ in range(3)]
    )  # about 1 ms: well above timer noise
    backend.measure(
        model, (64, 32, 32)
    )  # the process's first session also pays one-time start-up costs
    pairs = []
    for _ in range(
        3
    ):  # another process loading the CPU can spoil one pair; a broken protocol spoils all
        first, second = (backend.measure(model, (64, 32, 32)).median_ms for _ in range(2))
        pairs.append((first, second))
        if abs(first - second) / min(first, second) < 0.05:
            return
    pytest.fail(f"three pairs of measurements differ by more than 5%: {pairs}")


def test_time_budget_stops_early_but_not_before_min_runs():
    backend = get_backend("onnxruntime", warmup=0, runs=10_000, min_runs=7, time_budget_s=0.0)
    assert backend.measure(nn.Conv2d(3, 8, 1), (3, 8, 8)).runs == 7


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("onnxruntime", {"threads": 0}, r"latency\.threads"),
        ("onnxruntime", {"optimization": "max"}, r"latency\.optimization"),
        ("onnxruntime", {"provider": "TPUExecutionProvider"}, r"latency\.provider"),
        ("onnxruntime", {"thread": 1}, "check the option names"),
        ("quantum", {}, r"latency\.name"),
        ("macs", {"gmacs_per_s": 0}, r"latency\.gmacs_per_s"),
    ],
)
def test_bad_options(name, options, match):
    with pytest.raises(GramError, match=match):
        get_backend(name, **options)


def test_module_needs_input_shape_and_predictors_need_architectures():
    with pytest.raises(GramError, match="input_shape"):
        get_backend("onnxruntime").measure(nn.Conv2d(3, 3, 1))
    for name in ("macs", "lut"):
        with pytest.raises(GramError, match="Architecture"):
            get_backend(name).measure(nn.Conv2d(3, 3, 1), (3, 8, 8))


def test_macs_backend_is_deterministic(small_archs):
    backend = get_backend("macs", gmacs_per_s=2.0, overhead_ms=0.1)
    arch = small_archs[1]
    assert backend.measure(arch).median_ms == pytest.approx(0.1 + count_macs(arch) / 2e9 * 1e3)
    assert backend.measure(arch) == backend.measure(arch)
    assert backend.measure(build_model(arch)) == backend.measure(arch)  # a SwiftNet carries it


@pytest.mark.skipif(
    importlib.util.find_spec("litert_torch") is not None, reason="the tflite extra is installed"
)
def test_missing_runtime_names_the_extra():
    with pytest.raises(GramError, match=r"pip install 'gramnas\[tflite\]'"):
        get_backend("tflite")


def test_lookup_table_predicts_fills_and_reloads(small_archs, tmp_path):
    path = tmp_path / "lut.json"
    options = {"threads": 1, "warmup": 5, "runs": 30}
    lut = get_backend("lut", path=str(path), measure_options=options)
    onnx = get_backend("onnxruntime", **options)
    errors = []
    for arch in small_archs:
        predicted = lut.measure(arch)
        assert predicted.backend == "lut" and predicted.statistic == "predicted"
        measured = onnx.measure(arch).median_ms
        errors.append(abs(predicted.median_ms - measured) / measured)
    assert np.median(errors) < 0.3, (
        errors
    )  # bench/latency.py reports the real error over 30+ networks
    table = json.loads(path.read_text())
    assert (
        table["format"] == "gramnas.latency_lut"
        and table["measured_with"]["backend"] == "onnxruntime"
        and table["correction"] is None  # calibrate() fits one
    )
    assert table["device"] and table["runtime"].startswith("onnxruntime")
    assert any(key.startswith("conv3x3") for key in table["entries"]) and any(
        k.startswith("overhead") for k in table["entries"]
    )
    # A reloaded table predicts the same without measuring anything.
    frozen = get_backend("lut", path=str(path), measure_missing=False)
    assert frozen.measure(small_archs[0]).median_ms == pytest.approx(
        lut.measure(small_archs[0]).median_ms
    )
    other = MetaGraph.create(preset_space("small", input_size=16), seed=9, density=0.3).sample(
        np.random.default_rng(9)
    )
    with pytest.raises(GramError, match="has no entry"):
        frozen.measure(other)


def test_lookup_table_file_errors(tmp_path):
    path = tmp_path / "lut.json"
    path.write_text(
        '{"format": "gramnas.latency_lut", "version": 1, "measured_with": {"backend": "tflite"}, "entries": {}, "device": "", "runtime": ""}'
    )
    with pytest.raises(GramError, match="measured with tflite"):
        get_backend("lut", path=str(path))
    path.write_text("{broken")
    with pytest.raises(GramError, match="not valid JSON"):
        get_backend("lut", path=str(path))


# --- the lookup table's prediction as a function of its entries and correction (no timing) ---


@pytest.fixture
def hand_table(small_archs):
    """A table whose entries are set by hand for every piece of ``small_archs``; it never measures."""
    lut = LutBackend(measure_missing=False)
    for arch in small_archs:
        lut.entries[overhead_key(arch.input_shape)] = 0.05
        for piece in arch.pieces:
            lut.entries[piece_key(piece)] = 0.01 * (1 + len(piece_key(piece)) % 7)
    return lut


def test_lut_prediction_is_the_documented_function_of_table_and_correction(small_archs, hand_table):
    correction = {"conv_ms": 1.3, "other_ms": 0.5, "pieces": 0.002}
    for arch in small_archs:
        entries = [(p.kind, hand_table.entries[piece_key(p)]) for p in arch.pieces]
        conv_ms = sum(ms for kind, ms in entries if kind == "conv")
        other_ms = 0.05 + sum(ms for kind, ms in entries if kind != "conv")  # with the overhead
        assert conv_ms > 0 and other_ms > 0.05
        hand_table.correction = None
        assert hand_table.predict(arch) == pytest.approx(conv_ms + other_ms)  # the raw sum
        hand_table.correction = correction
        assert hand_table.predict(arch, calibrated=False) == pytest.approx(conv_ms + other_ms)
        assert hand_table.measure(arch).median_ms == pytest.approx(
            1.3 * conv_ms + 0.5 * other_ms + 0.002 * len(arch.pieces)
        )


def test_correction_fit_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    features = np.column_stack(
        [rng.uniform(0.5, 10, 30), rng.uniform(0.1, 2, 30), rng.integers(10, 100, 30)]
    )
    fitted = fit_correction(features, features @ [1.2, 0.5, 0.004])
    assert list(fitted) == list(FEATURES)
    assert list(fitted.values()) == pytest.approx([1.2, 0.5, 0.004])
    # The coefficients are costs: a fit that would make one negative pins it at zero.
    fitted = fit_correction(features, features @ [-0.02, 0.5, 0.05])
    assert fitted["conv_ms"] == 0.0 and fitted["other_ms"] > 0 and fitted["pieces"] > 0
    fitted = fit_correction(features, features @ [1.1, 0.5, -0.001])
    assert fitted["pieces"] == 0.0 and fitted["conv_ms"] > 0 and fitted["other_ms"] > 0
    with pytest.raises(GramError, match="at least 3 networks"):
        fit_correction(features[:2], features[:2] @ [1.2, 0.5, 0.004])


def test_calibrated_table_saves_and_reloads(small_archs, hand_table, tmp_path):
    truth = {"conv_ms": 0.9, "other_ms": 0.6, "pieces": 0.003}
    features = [hand_table.features(arch) for arch in small_archs]
    measured = [sum(truth[name] * f[name] for name in FEATURES) for f in features]
    assert hand_table.calibrate(small_archs, measured) == pytest.approx(truth)
    path = hand_table.save(tmp_path / "lut.json")
    saved = json.loads(path.read_text())
    assert saved["version"] == 2 and saved["correction"]["networks"] == len(small_archs)
    reloaded = LutBackend(path, measure_missing=False)
    for arch, ms in zip(small_archs, measured, strict=True):
        assert reloaded.predict(arch) == pytest.approx(ms)


def test_calibrate_measures_two_passes_and_keeps_the_faster(small_archs, hand_table):
    """A burst of load during one pass must not bias the correction."""
    truth = {"conv_ms": 1.2, "other_ms": 0.7, "pieces": 0.001}
    calls = []

    class Loaded(LatencyBackend):  # every network is 30% slower in the first pass
        def measure(self, arch, input_shape=None):
            features = hand_table.features(arch)
            ms = sum(truth[name] * features[name] for name in FEATURES)
            calls.append(arch.id)
            slowdown = 1.3 if len(calls) <= len(small_archs) else 1.0
            return LatencyResult(ms * slowdown, None, 1, "fake", "cpu", "0")

    hand_table._measurer = Loaded()
    assert hand_table.calibrate(small_archs) == pytest.approx(truth)
    assert calls == [arch.id for arch in small_archs] * 2


def test_version_1_table_still_loads(small_archs, hand_table, tmp_path):
    path = tmp_path / "v1.json"
    path.write_text(
        json.dumps(
            {
                "format": "gramnas.latency_lut",
                "version": 1,
                "device": "cpu",
                "runtime": "onnxruntime 1.18",
                "measured_with": {"backend": "onnxruntime", "threads": 1},
                "entries": hand_table.entries,
            }
        )
    )
    old = LutBackend(path, measure_missing=False)
    assert old.correction is None and old.device == "cpu"
    assert old.predict(small_archs[0]) == pytest.approx(hand_table.predict(small_archs[0]))
    broken = json.loads(path.read_text()) | {"version": 2, "correction": {"coefficients": {}}}
    path.write_text(json.dumps(broken))
    with pytest.raises(GramError, match="malformed latency table"):
        LutBackend(path)


@pytest.mark.slow
def test_tflite_converts_and_runs(small_archs):
    pytest.importorskip("litert_torch")
    from gramnas import build_model
    from gramnas.latency.tflite import convert_to_tflite, max_abs_difference

    arch = small_archs[0]
    model = build_model(arch)
    content = convert_to_tflite(model, arch.input_shape)
    assert max_abs_difference(model, content, arch.input_shape) < 1e-4
    result = get_backend("tflite", runs=10).measure(arch)
    assert result.backend == "tflite" and result.median_ms > 0


# --- ADB: a fake adb client on PATH records its arguments and answers like the real one ---

FAKE_ADB = """#!{python}
import os, shlex, sys
with open(os.environ["FAKE_ADB_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args and args[0] == "-s":
    args = args[2:]
if args and args[0] == "shell":  # like adb: one line for the phone's shell
    args = ["shell", *shlex.split(" ".join(args[1:]))]
if args == ["devices"]:
    print("List of devices attached")
    for serial in os.environ.get("FAKE_ADB_DEVICES", "").split():
        print(serial + "\\tdevice")
elif args[:2] == ["shell", "test"]:
    sys.exit(0 if os.environ.get("FAKE_ADB_BINARY") == "present" else 1)
elif args[:2] == ["shell", "getprop"]:
    print("Pixel 1")
elif args[0] == "push":
    print("1 file pushed")
elif args[0] == "shell":
    sys.stdout.write(open(os.environ["FAKE_ADB_OUTPUT"]).read())
"""


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_LOG", str(tmp_path / "adb.log"))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(DATA / "benchmark_model_output.txt"))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "HT7A1B234")
    monkeypatch.setenv("FAKE_ADB_BINARY", "present")
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3")
    return tmp_path


def test_parse_recorded_benchmark_output():
    # Format of TFLite's benchmark_model (warm-up line, then the timed runs); the file is a
    # fixture in that format, not a measurement from a phone.
    stats = parse_benchmark_output((DATA / "benchmark_model_output.txt").read_text())
    assert (stats.count, stats.avg_us, stats.std_us, stats.min_us, stats.max_us) == (
        431,
        2318.52,
        58,
        2204,
        2688,
    )
    with pytest.raises(GramError, match="no timing line"):
        parse_benchmark_output(
            "ERROR: Could not open '/data/local/tmp/x.tflite'.\nBenchmarking failed."
        )


def test_adb_measures_with_the_expected_commands(fake_adb):
    backend = AdbBackend(threads=4, use_gpu=True, warmup_runs=5, num_runs=100)
    result = backend.measure_file(fake_adb / "model.tflite")
    assert result.median_ms == pytest.approx(2.31852) and result.std_ms == pytest.approx(0.058)
    assert result.statistic == "mean" and result.runs == 431 and result.p90_ms is None
    assert result.device == "Pixel 1 (HT7A1B234, GPU)" and result.threads == 4
    calls = (fake_adb / "adb.log").read_text().splitlines()
    assert calls == [
        "devices",
        "-s HT7A1B234 shell test -x /data/local/tmp/benchmark_model",
        f"-s HT7A1B234 push {fake_adb / 'model.tflite'} /data/local/tmp/model.tflite",
        "-s HT7A1B234 shell /data/local/tmp/benchmark_model --graph=/data/local/tmp/model.tflite "
        "--num_threads=4 --use_gpu=true --warmup_runs=5 --num_runs=100",
        "-s HT7A1B234 shell getprop ro.product.model",
    ]


@pytest.mark.parametrize(
    ("devices", "serial", "binary", "match"),
    [
        ("", None, "present", "no phone is attached"),
        ("AAA BBB", None, "present", r"2 phones are attached.*latency\.serial"),
        ("AAA", "CCC", "present", "'CCC' is not attached"),
        ("AAA", None, "absent", r"latency\.binary.*not an executable"),
    ],
)
def test_adb_errors(fake_adb, monkeypatch, devices, serial, binary, match):
    monkeypatch.setenv("FAKE_ADB_DEVICES", devices)
    monkeypatch.setenv("FAKE_ADB_BINARY", binary)
    with pytest.raises(GramError, match=match):
        AdbBackend(serial=serial).measure_file(fake_adb / "model.tflite")


def test_adb_missing_client(monkeypatch, tmp_path):
    with pytest.raises(GramError, match=r"latency\.adb.*apt-get install adb"):
        AdbBackend(adb=str(tmp_path / "no-adb")).measure_file(tmp_path / "model.tflite")


def test_adb_two_devices_with_serial_picks_it(fake_adb, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_DEVICES", "AAA BBB")
    assert (
        AdbBackend(serial="BBB")
        .measure_file(fake_adb / "model.tflite")
        .device.endswith("(BBB, CPU)")
    )


def phone_shell_words(command: list[str]) -> list[str]:
    """The words a phone's shell runs: adb joins those after ``shell`` into one line for it."""
    line = " ".join(command[command.index("shell") + 1 :])
    printed = subprocess.run(
        ["sh", "-c", f"printf '%s\\0' {line}"], capture_output=True, text=True, check=True
    ).stdout
    return printed.split("\0")[:-1]


def test_adb_quotes_every_word_for_the_phone_shell():
    evil = "/data/local/tmp/x$(echo injected); echo injected"
    backend = AdbBackend(binary=f"{evil}/bm", device_dir=evil, extra_args=["--x=a b"])
    remote = f"{backend.device_dir}/m`echo injected`.tflite"
    assert phone_shell_words(backend.benchmark_command("AAA", remote)) == [
        f"{evil}/bm",
        f"--graph={remote}",
        "--num_threads=1",
        "--use_gpu=false",
        "--warmup_runs=10",
        "--num_runs=50",
        "--x=a b",
    ]
    check = backend.shell_command("AAA", "test", "-x", backend.binary)
    assert phone_shell_words(check) == ["test", "-x", f"{evil}/bm"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"device_dir": "data/local/tmp"}, "latency.device_dir"),
        ({"binary": "/data/local/tmp/bm\nreboot"}, "latency.binary"),
    ],
)
def test_adb_refuses_a_phone_path_that_is_not_one(options, field):
    with pytest.raises(GramError, match=rf"^{field}: must be an absolute path") as error:
        AdbBackend(**options)
    assert "\n" not in str(error.value)


def test_adb_device_lock_lives_in_a_private_directory_and_follows_no_symlink(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with device_lock("AAA"):
        pass
    private = tmp_path / f"gramnas-{os.getuid()}"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for lock in private.iterdir():
        lock.unlink()
        lock.symlink_to(victim)
    with pytest.raises(GramError, match="lock file"), device_lock("AAA"):
        pass
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("name", ["onnxruntime", "macs", "lut", "tflite", "adb"])
def test_every_latency_config_composes(tmp_path, name):
    from hydra.utils import instantiate

    from conftest import compose_config

    cfg = compose_config("search", tmp_path, [f"latency={name}"])
    if name == "tflite" and importlib.util.find_spec("litert_torch") is None:
        with pytest.raises(Exception, match=r"gramnas\[tflite\]"):
            instantiate(cfg.latency)
        return
    assert instantiate(cfg.latency).name == name
