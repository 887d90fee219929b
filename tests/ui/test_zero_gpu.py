"""spaces.GPU only where the Hugging Face `spaces` package is installed."""

import sys

from ui.zero_gpu import on_zero_gpu


def handler(x: int) -> int:
    return x + 1


def test_without_the_spaces_package_the_function_is_unchanged():
    assert "spaces" not in sys.modules
    assert on_zero_gpu(handler) is handler


def test_with_the_spaces_package_the_function_is_decorated(tmp_path, monkeypatch):
    # A stand-in for the package as ZeroGPU Spaces install it: GPU(fn) returns a wrapper.
    (tmp_path / "spaces.py").write_text(
        "import functools\n"
        "calls = []\n"
        "def GPU(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def wrapper(*a, **k):\n"
        "        calls.append(fn.__name__)\n"
        "        return fn(*a, **k)\n"
        "    return wrapper\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        decorated = on_zero_gpu(handler)
        assert decorated is not handler and decorated(1) == 2
        assert sys.modules["spaces"].calls == ["handler"]
    finally:
        sys.modules.pop("spaces", None)
