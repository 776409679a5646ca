"""Reads a folder of TensorBoard event files with the tensorboard package's
own reader and prints what it found as JSON: each scalar tag's [step, value]
pairs and each image tag's [step, width, height]. Exits with 77 when the
package is not installed (tests/cpu/test_tensorboard.cpp then skips).

  python3 read_tensorboard.py FOLDER
"""
import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
except ImportError:
    sys.exit(77)

events = event_accumulator.EventAccumulator(
    sys.argv[1], size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0})
events.Reload()
tags = events.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in events.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [[e.step, e.width, e.height] for e in events.Images(t)] for t in tags["images"]},
}))
