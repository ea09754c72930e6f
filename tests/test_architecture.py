"""Architecture and meta-graph JSON formats, ids and error messages."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from gramnas import Architecture, GramError, MetaGraph, derive
from gramnas.jsonio import write_text_atomic


def test_architecture_round_trip_and_stable_id(trained_metagraph, tmp_path):
    arch = derive(trained_metagraph, 0.3, upscale=1.25)
    again = Architecture.from_json(arch.to_json())
    assert again == arch and again.id == arch.id
    loaded = Architecture.load(arch.save(tmp_path / "architecture.json"))
    assert loaded == arch
    assert derive(trained_metagraph, 0.3, upscale=1.5).id != arch.id
    data = json.loads(arch.to_json())
    assert data["format"] == "gramnas.architecture" and data["version"] == 1
    assert set(data) >= {"input_shape", "num_classes", "stem", "dags", "downsample", "head"}


def test_sampled_candidates_are_architectures(trained_metagraph):
    arch = trained_metagraph.sample(np.random.default_rng(1))
    assert Architecture.from_dict(arch.to_dict()) == arch


def test_metagraph_round_trip(trained_metagraph, tmp_path):
    path = trained_metagraph.save(tmp_path / "metagraph.json")
    loaded = MetaGraph.load(path)
    np.testing.assert_array_equal(loaded.weights, trained_metagraph.weights)
    assert loaded.ops == trained_metagraph.ops
    assert (loaded.beta, loaded.iteration, loaded.seed) == (
        trained_metagraph.beta,
        trained_metagraph.iteration,
        trained_metagraph.seed,
    )
    data = json.loads(path.read_text())
    assert data["format"] == "gramnas.metagraph"
    assert data["dags"][0]["ops"][0] == "input"
    assert data["dags"][0]["edges"][0][:2] == [0, 1]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something.else", "version": 1}', "not a gramnas.metagraph file"),
        ('{"format": "gramnas.metagraph", "version": 99}', "version 99 is not supported"),
        ('{"format": "gramnas.metagraph", "version": 1, "space": {}}', "malformed meta-graph"),
    ],
)
def test_corrupt_metagraph_files(tmp_path, content, match):
    path = tmp_path / "metagraph.json"
    path.write_text(content)
    with pytest.raises(GramError, match=match):
        MetaGraph.load(path)


def test_truncated_metagraph_and_missing_file(trained_metagraph, tmp_path):
    path = trained_metagraph.save(tmp_path / "metagraph.json")
    path.write_text(path.read_text()[:500])
    with pytest.raises(GramError, match="not valid JSON"):
        MetaGraph.load(path)
    with pytest.raises(GramError, match="file not found"):
        MetaGraph.load(tmp_path / "missing.json")


def test_tampered_metagraph_weights(trained_metagraph, tmp_path):
    data = trained_metagraph.to_dict()
    data["dags"][0]["edges"][0][2] = -1.0
    with pytest.raises(GramError, match="weights"):
        MetaGraph.from_dict(data)


def test_invalid_architectures_are_refused(trained_metagraph):
    data = derive(trained_metagraph, 0.0).to_dict()
    data["dags"][0]["edges"].append([5, 2])
    with pytest.raises(GramError, match="src < dst"):
        Architecture.from_dict(data)
    data = derive(trained_metagraph, 0.0).to_dict()
    data["dags"][0]["nodes"][0]["op"] = "maxpool3x3"
    with pytest.raises(GramError, match="unknown operation"):
        Architecture.from_dict(data)
    data = derive(trained_metagraph, 0.0).to_dict()
    data["version"] = 2
    with pytest.raises(GramError, match="version"):
        Architecture.from_dict(data)


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomically_written_files_get_the_mode_of_any_other_file(
    trained_metagraph, tmp_path, umask
):
    previous = os.umask(umask)
    try:
        written = [
            trained_metagraph.save(tmp_path / "metagraph.json"),
            derive(trained_metagraph, 0.3).save(tmp_path / "architecture_0.3.json"),
            tmp_path / "candidates.jsonl",  # a log that a resume rewrote
        ]
        write_text_atomic(written[-1], "{}\n")
        (tmp_path / "summary.md").write_text("")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "summary.md").stat().st_mode) == 0o666 & ~umask
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
