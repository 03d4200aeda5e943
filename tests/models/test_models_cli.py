import pytest

from ms2mnet.cli import main
from ms2mnet.models import list_models
from ms2mnet.cli.models import README_END, README_START, replace_between_markers


@pytest.fixture(scope="module")
def models_output() -> str:
    """`ms2mnet models` once (it builds every model and variant to count its parameters)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["models"]) == 0
    return out.getvalue()


def test_models_command_lists_every_variant_with_its_size(models_output):
    out = models_output
    for variant in list_models()["ms2mnet"]:
        assert f"| ms2mnet | {variant} |" in out
    full = next(line for line in out.splitlines() if "| full |" in line)
    assert 40 < float(full.split("|")[3]) < 60  # millions of parameters


def test_readme_table_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nafter\n")
    replace_between_markers(readme, "| new |")
    assert readme.read_text() == f"intro\n{README_START}\n| new |\n{README_END}\nafter\n"


def test_models_without_variants_are_listed(models_output):
    out = models_output
    for name in ("esanet", "cmgfnet", "unetformer"):
        assert f"| {name} | – |" in out
