"""The demo generator's drift option shifts exactly the amounts of the last days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from featurelake.errors import ConfigError
from featurelake.lakehouse.demo_data import DRIFT_FACTOR, generate, transaction_batches


def test_drift_days_shift_only_the_amounts_of_the_last_days() -> None:
    kw = dict(rows=3000, seed=11, start=date(2026, 1, 1), days=6, users=50, merchants=20)
    plain = list(transaction_batches(**kw))
    drifted = list(transaction_batches(**kw, drift_days=2))
    assert len(plain) == len(drifted) == 6
    for i, (a, b) in enumerate(zip(plain, drifted, strict=True)):
        for name in a.schema.names:
            if name != "amount" or i < 4:
                assert a.column(name).equals(b.column(name)), (i, name)
        if i >= 4:
            x = a.column("amount").to_numpy(zero_copy_only=False)
            y = b.column("amount").to_numpy(zero_copy_only=False)
            ok = ~np.isnan(x) & (x * DRIFT_FACTOR < 25_000)  # amounts are clipped at 25,000
            # both are rounded to cents after scaling: they differ by at most 2.5 x 0.005 + 0.005
            assert np.allclose(y[ok], x[ok] * DRIFT_FACTOR, rtol=0, atol=0.0176)


def test_drift_days_must_leave_a_day_unshifted(tmp_path) -> None:
    with pytest.raises(ConfigError, match="drift_days must be in 0..4"):
        generate(None, str(tmp_path), rows=100, seed=1, start=date(2026, 1, 1), days=5, drift_days=5)
