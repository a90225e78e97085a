"""GPU probe for issue 10: torch modes on cuda at fp32 / tf32 / bf16 / fp16 x NCHW / channels_last.

Errors against the float64 oracle (logits, loss, grads, 20-step loss curve) and step times
(CUDA events, median). Writes JSON lines to argv[1]."""
import json, os, sys, time, traceback
import numpy as np
import torch
import torch.nn.functional as F
from benchmarks.data.batches import seeded_batches
from benchmarks.tasks.parity import errors, run_oracle
from impls.registry import mode_class
from impls.spec import get_model
from impls.weights import init_weights

OUT = open(sys.argv[1], "a")
DEV = os.environ.get("PROBE_DEVICE", "cuda")  # cpu: a dry run of this script only
STEPS = 20
CONFIGS = [("fp32", "default"), ("tf32", "default"), ("bf16", "default"), ("fp16", "default"),
           ("fp32", "channels_last"), ("bf16", "channels_last"), ("fp16", "channels_last")]
DT = {"bf16": torch.bfloat16, "fp16": torch.float16}


def make(mode, spec, weights, precision, layout):
    impl = mode_class(mode)(spec, DEV, seed=0, dropout=False)
    impl.load_weights(weights)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if layout == "channels_last":
        impl.net.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(DEV) if precision == "fp16" else None
    ctx = (lambda: torch.autocast(DEV, dtype=DT[precision])) if precision in DT else (
        lambda: torch.autocast(DEV, enabled=False))

    def batch(x, y):
        xb, yb = impl.to_device(x, y)
        if layout == "channels_last":
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, yb

    def fwd(b):
        with torch.inference_mode(), ctx():
            return impl._predict(b[0])

    def grads(b, alone=True):
        impl.optimizer.zero_grad(set_to_none=True)
        with ctx():
            loss = impl._loss(*b)
        if scaler:
            scaler.scale(loss).backward()
            scaler.unscale_(impl.optimizer)
            if alone:
                scaler.update()  # a gradient check alone: no optimizer step follows
        else:
            loss.backward()
        return loss.detach()

    def train(b):
        loss = grads(b, alone=False)
        if scaler:
            scaler.step(impl.optimizer)
            scaler.update()
        else:
            impl.optimizer.step()
        return loss

    return impl, batch, fwd, grads, train


def cuda_time(fn, n=50, warm=5):
    if DEV == "cpu":
        n, warm = 3, 1
        ts = []
        for _ in range(n):
            t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
        return float(np.median(ts)), 0.0
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return float(np.median(times)), float(np.percentile(times, 75) - np.percentile(times, 25))


def main():
    print(torch.__version__, torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu", flush=True)
    refs = {}
    batches = seeded_batches(STEPS, 64, 0)
    for model in os.environ.get("PROBE_MODELS", "workshop,examples").split(","):
        t0 = time.time()
        refs[model] = run_oracle(get_model(model), init_weights(get_model(model), 0), batches)
        print(f"{model}: oracle {time.time() - t0:.1f}s", flush=True)
    for mode in os.environ.get("PROBE_MODES", "torch-eager,torch-compile").split(","):
        for model, ref in refs.items():
            spec = get_model(model)
            weights = init_weights(spec, 0)
            for precision, layout in CONFIGS:
                row = {"model": model, "mode": mode, "precision": precision, "layout": layout}
                try:
                    t0 = time.time()
                    impl, batch, fwd, grads, train = make(mode, spec, weights, precision, layout)
                    b0 = batch(*batches[0])
                    logits = fwd(b0).float().cpu().numpy()
                    loss = grads(b0)
                    g = {n: p.grad.float().cpu().numpy() for n, p in impl.net.named_parameters()}
                    row["logits"] = errors(logits, ref.logits)
                    row["loss"] = errors(float(loss), ref.loss)
                    row["grads_max_rel"] = max(errors(g[n], ref.grads[n])[1] for n in g)
                    row["grads_rel_l2"] = max(errors(g[n], ref.grads[n])[2] for n in g)
                    impl.load_weights(weights)  # fresh optimizer state, same compiled code
                    curve = [float(train(batch(x, y))) for x, y in batches]
                    row["curve_max_abs"] = float(np.max(np.abs(np.array(curve) - ref.loss_curve)))
                    w = {n: p.detach().float().cpu().numpy() for n, p in impl.net.named_parameters()}
                    row["drift_rel_l2"] = max(errors(w[n], ref.final_weights[n])[2] for n in w)
                    row["setup_s"] = time.time() - t0
                    for bs in (64, 256):
                        x, y = seeded_batches(1, bs, 1)[0]
                        bb = batch(x, y)
                        row[f"forward_b{bs}_s"] = cuda_time(lambda: fwd(bb))
                        row[f"train_b{bs}_s"] = cuda_time(lambda: train(bb))
                except Exception as err:  # record and go on: one run, no retries
                    row["error"] = f"{type(err).__name__}: {err}"[:500]
                    traceback.print_exc()
                print(json.dumps(row), flush=True)
                OUT.write(json.dumps(row) + "\n"); OUT.flush()
    if DEV == "cpu":
        return
    # matmul peaks per dtype on cuda, TF32 off for fp32
    torch.backends.cuda.matmul.allow_tf32 = False
    n = 8192
    for name, dt, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                           ("bf16", torch.bfloat16, False), ("fp16", torch.float16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(n, n, device="cuda", dtype=dt)
        s, _ = cuda_time(lambda: a @ a, n=10, warm=3)
        row = {"gemm": name, "n": n, "tflops": 2 * n**3 / s / 1e12}
        print(json.dumps(row), flush=True); OUT.write(json.dumps(row) + "\n"); OUT.flush()


main()
