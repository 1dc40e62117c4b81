"""Mode.including/excluding/requiring find passes by tag also when a
pipeline entry carries options (FAST_COMPILE's ``fuse-elementwise{min-ops=256}``)."""
import pytest

from theon.runtime.mode import get_mode, pass_tags


def _bases(pipeline):
    return [p.split("{")[0] for p in pipeline]


def test_tags_of_an_entry_with_options_are_its_pass_tags():
    assert pass_tags("fuse-elementwise{min-ops=256}") == pass_tags("fuse-elementwise")
    assert "fusion" in pass_tags("fuse-elementwise{min-ops=256}")


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_excluding_fusion_drops_the_fusion_pass(mode):
    m = get_mode(mode)
    assert "fuse-elementwise" in _bases(m.pipeline)
    assert "fuse-elementwise" not in _bases(m.excluding("fusion").pipeline)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_including_a_pass_already_there_with_options_adds_no_second_one(mode):
    m = get_mode(mode)
    assert _bases(m.including("fusion").pipeline).count("fuse-elementwise") == 1
    assert m.including("fusion").pipeline == m.pipeline


def test_requiring_keeps_entries_with_options():
    assert _bases(get_mode("FAST_COMPILE").requiring("fusion").pipeline) == ["fuse-elementwise"]


@pytest.mark.parametrize("tag", ["gemm-epilogue", "gemm_epilogue", "gemm_optimizer", "inplace_gemm"])
def test_excluding_theanos_gemm_optimizer_drops_the_gemm_epilogue(tag):
    m = get_mode("FAST_RUN")
    assert "gemm-epilogue" in _bases(m.pipeline)
    rest = _bases(m.excluding(tag).pipeline)
    assert "gemm-epilogue" not in rest and "fuse-elementwise" in rest
