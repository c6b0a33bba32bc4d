"""The frozen console trainer (rollcall-train[.exe]): the same as `rollcall-train`, run by rollcall_entry.py.

Started by the windowed app on Windows, a console program gets a console window of its own unless the
app could ask for none; the app then sets ROLLCALL_HIDE_CONSOLE=1 and the trainer lets go of that
console at once (its stdin/stdout/stderr are the app's pipes, not the console, so they keep working).

`rollcall-train --check-onnx` (for packaging/build_and_check.sh) checks that the bundle's `onnx` and
`onnxruntime` work: it exports a tiny torch network with the TorchScript exporter (`dynamo=False`, which
needs `onnx`), runs it with onnxruntime and compares with torch; prints a JSON verdict, exit 0 when ok.
"""

import io
import json
import os
import sys


def check_onnx() -> int:
    import numpy as np
    import onnx
    import onnxruntime
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(2, 3, 8, 8)
    buffer = io.BytesIO()
    torch.onnx.export(net, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}})
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        diff = float(np.abs(got - net(x).numpy()).max())
    ok = got.shape == (2, 5) and diff < 1e-4
    print(json.dumps({"ok": ok, "max_abs_diff": diff, "onnx": onnx.__version__,
                      "onnxruntime": onnxruntime.__version__, "providers": session.get_providers()}))
    return 0 if ok else 1


def main() -> int:
    if sys.platform == "win32" and os.environ.pop("ROLLCALL_HIDE_CONSOLE", "") == "1":
        import ctypes

        ctypes.windll.kernel32.FreeConsole()
    if sys.argv[1:] == ["--check-onnx"]:
        return check_onnx()
    from trainer.__main__ import exit_now, main as trainer_main

    exit_now(trainer_main())  # no slow interpreter teardown after a stop request
    return 0  # not reached
