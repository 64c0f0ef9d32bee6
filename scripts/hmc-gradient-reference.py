"""PyTorch's side of `credence perf --parts hmc`: full-batch log-posterior gradients per second
of the small networks HMC and NUTS sample, written the way PyTorch HMC code (hamiltorch,
Izmailov et al.'s reference) writes them — one flat parameter vector, unflattened into the
layers, autograd for the gradient.

The same tasks as Credence's `hamiltonianTasks()`: two moons (1,000 points, MLP 2-16-16-2,
cross-entropy), the 1-D regression (1,000 points, MLP 1-16-16-2, heteroscedastic Gaussian:
variance softplus(raw) + 1e-6), and an Auto MPG-shaped regression (392 x 7, MLP 7-16-16-1 and
one learned noise variance); log p = -N * mean NLL - 0.5 * |theta|^2 (Gaussian prior of
precision 1). One chain per core, as Credence runs them: each worker process runs one thread
and times its own evaluations; the rates are summed.

    python scripts/hmc-gradient-reference.py [--workers 2] [--evaluations 3000] [--out hmc.json]
"""
import argparse
import json
import math
import multiprocessing
import time


def make_task(name):
    import torch
    g = torch.Generator().manual_seed(0)
    if name == "two-moons":
        n, d, outputs = 1000, 2, 2
        y = torch.randint(0, 2, (n,), generator=g)
    elif name == "regression-1d":
        n, d, outputs = 1000, 1, 2
        y = torch.randn(n, 1, generator=g)
    else:
        n, d, outputs = 392, 7, 1
        y = torch.randn(n, 1, generator=g)
    x = torch.randn(n, d, generator=g)
    shapes = [(16, d), (16,), (16, 16), (16,), (outputs, 16), (outputs,)]
    count = sum(math.prod(s) for s in shapes) + (1 if name == "auto-mpg" else 0)
    theta = (0.3 * torch.randn(count, generator=g)).requires_grad_(True)

    def log_density(theta):
        weights, i = [], 0
        for s in shapes:
            k = math.prod(s)
            weights.append(theta[i:i + k].view(s))
            i += k
        h = torch.relu(x @ weights[0].T + weights[1])
        h = torch.relu(h @ weights[2].T + weights[3])
        out = h @ weights[4].T + weights[5]
        if name == "two-moons":
            nll = torch.nn.functional.cross_entropy(out, y)
        else:
            mean, raw = (out[:, :1], out[:, 1:]) if name == "regression-1d" else (out, theta[i].expand(n, 1))
            variance = torch.nn.functional.softplus(raw) + 1e-6
            nll = 0.5 * (torch.log(variance) + (mean - y) ** 2 / variance).mean() + 0.5 * math.log(2 * math.pi)
        return -n * nll - 0.5 * (theta ** 2).sum()

    return theta, log_density


def worker(arguments):
    name, evaluations = arguments
    import torch
    torch.set_num_threads(1)
    theta, log_density = make_task(name)
    for _ in range(50):
        torch.autograd.grad(log_density(theta), theta)
    start = time.perf_counter()
    for _ in range(evaluations):
        torch.autograd.grad(log_density(theta), theta)
    return evaluations / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--evaluations", type=int, default=3000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import torch
    results = {"torch": torch.__version__, "workers": args.workers, "gradients_per_s": {}}
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for name in ("two-moons", "regression-1d", "auto-mpg"):
            rates = pool.map(worker, [(name, args.evaluations)] * args.workers)
            results["gradients_per_s"][name] = sum(rates)
            print(f"{name}: {sum(rates):.0f} gradients/s ({args.workers} processes, 1 thread each)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
