"""AD stack push/pop throughput against a plain memory copy of the same bytes.

Both are timed in the same call, alternately, best of several repetitions, for a
few push sizes (the ratio is what to read: the machine is shared and noisy).

    python bench/bench_stack.py
"""

import argparse

from pyharness import runtime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--total-mib", type=float, default=256, help="bytes moved per repetition (MiB)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    total = int(args.total_mib * 2**20)
    print(f"{'reals/push':>10} {'pushes':>8} {'stack GB/s':>11} {'copy GB/s':>10} {'stack/copy':>11}")
    for n in (1, 16, 256, 4096, 65536):
        npush = max(1, total // (8 * n))
        t_stack, t_copy, ok = runtime.api().api_bench_stack(n, npush, args.reps)
        assert ok == 0, "popped values differ from pushed ones"
        nbytes = 2 * 8 * n * npush          # every byte goes in and comes back out
        print(f"{n:>10} {npush:>8} {nbytes / t_stack / 1e9:>11.2f} {nbytes / t_copy / 1e9:>10.2f} "
              f"{t_copy / t_stack:>11.2f}")
    print("stack/copy = throughput of the AD stack as a fraction of a plain copy (target >= 0.5)")


if __name__ == "__main__":
    main()
