#!/usr/bin/env python3
"""Writes Tests/CredenceInferenceTests/Fixtures/arviz-diagnostics.json: chains of draws and what
ArviZ computes for them (rank-normalised split-R̂, bulk and tail ESS), the reference the Swift
ChainDiagnostics tests compare with.

    PYTHON scripts/make_diagnostics_fixture.py      # needs numpy and arviz
"""
import json
import os

import arviz as az
import numpy as np

rng = np.random.default_rng(7)


def ar1(chains, draws, rho):
    x = np.zeros((chains, draws))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - rho * rho)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + rng.normal(size=chains)
    return x


shifted = rng.normal(size=(4, 300))
shifted[2] += 1.0
scaled = rng.normal(size=(4, 250)) * np.array([[1.0], [1.0], [1.0], [3.0]])
cases = {
    "iid": rng.normal(size=(4, 400)),
    "ar1-0.9": ar1(4, 400, 0.9),
    "one-chain-shifted": shifted,
    "one-chain-wider": scaled,
    "student-t2-odd-length": rng.standard_t(2, size=(3, 101)),
    "ties": rng.integers(0, 5, size=(2, 60)).astype(float),
}
out = []
for name, x in cases.items():
    out.append({"name": name, "chains": x.tolist(), "rhat": float(az.rhat(x)),
                "essBulk": float(az.ess(x, method="bulk")), "essTail": float(az.ess(x, method="tail"))})
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "CredenceInferenceTests", "Fixtures",
                    "arviz-diagnostics.json")
with open(path, "w") as f:
    json.dump({"arviz": az.__version__, "cases": out}, f)
print(path, [(c["name"], round(c["rhat"], 4), round(c["essBulk"], 1), round(c["essTail"], 1)) for c in out])
