"""A run folder written by a PyTorch twin, which `nanogen eval` and
`nanogen sample` read as they read nanogen's own: the config.json of a
nanogen run of the same model options (`like`), and
checkpoints/last.safetensors holding the twin's weights under nanogen's
names. So a PyTorch-trained model is scored with exactly nanogen's yardstick:
the same number of samples, the same classifier features, the same sampler."""
import json
import os

import safetensors_io


def write_run(out, like, state, note):
    with open(os.path.join(like, "config.json")) as f:
        config = json.load(f)
    config["trained_by"] = note
    os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    path = os.path.join(out, "checkpoints", "last.safetensors")
    safetensors_io.save(path + ".tmp", state, {"trained_by": note})
    os.replace(path + ".tmp", path)
    print(f"wrote {out} (weights of {note}; config of {like})")
