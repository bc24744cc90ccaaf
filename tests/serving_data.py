"""A tiny model trained on a slice of m4_hourly, saved, and its test series as JSON lines with two bad rows:
what the predict command's and the Ray engine's end-to-end tests forecast."""

import json
from pathlib import Path

from tiny import quiet_trainer, tiny_estimator

from gluonts_diffusion.data.datasets import load_dataset

NUM_SERIES = 6
#: (line number, row, the reason the command reports for it)
BAD_ROWS = {
    3: ('{"start": "1750-01-01 00:00:00", "target": [1.0, "x", 3.0]}', "non-numeric target values"),
    6: ('{"start": "yesterday-ish", "target": [1.0, 2.0]}', "start 'yesterday-ish' does not parse"),
}


def saved_m4_model(root: Path, data_dir: Path):
    """``(predictor, model folder, input file, good test entries)``: a tiny transformer trained for a few
    batches on 8 m4_hourly series, serialized into ``root/model``; the input file holds the first
    :data:`NUM_SERIES` test series as GluonTS JSON lines with :data:`BAD_ROWS` among them."""
    dataset = load_dataset("m4_hourly", data_dir)
    predictor = tiny_estimator(quiet_trainer(root), batch_size=4).train(list(dataset.train)[:8])
    predictor.serialize(root / "model")
    entries = list(dataset.test)[:NUM_SERIES]
    lines, good = [], iter(entries)
    for number in range(1, NUM_SERIES + len(BAD_ROWS) + 1):
        if number in BAD_ROWS:
            lines.append(BAD_ROWS[number][0])
        else:
            entry = next(good)
            lines.append(
                json.dumps(
                    {"item_id": entry["item_id"], "start": str(entry["start"]), "target": entry["target"].tolist()}
                )
            )
    (root / "input.json").write_text("\n".join(lines) + "\n")
    return predictor, root / "model", root / "input.json", entries
