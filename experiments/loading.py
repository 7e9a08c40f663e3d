"""loading.py - what a figure script loads before its experiment: the device, the DDPM (checked to be the kind the
figure needs), its schedule, the reverse step and conditioning input to run (--kernels, --fast), the first --n test
images,
the classifier that judges "class kept", and a generator seeded with --seed."""

import sys

import torch

import paths  # noqa: F401  (first: puts the project root on sys.path)
import data
import kernels
from checkpoint import CheckpointError, load_ddpm
from classifier import load_classifier
from devices import resolve_device
from fast import fast_path
from paths import JUDGES


class Run:
    """Everything a figure script loads. `expected`: the train_config values the checkpoint must have, such as
    cond="class" (checkpoint.check_trained_as); a checkpoint of another kind, or missing files, end the script with a
    one-line error."""

    def __init__(self, args, dataset, **expected):
        self.device = resolve_device(args.device)
        try:
            self.model, self.schedule, self.ckpt = load_ddpm(args.checkpoint, self.device, dataset=dataset, **expected)
            self.classifier, _ = load_classifier(args.classifier or JUDGES[dataset])
            x0, labels = data.load_test_images(dataset, args.n, args.data_dir)
            # the reverse step for the samplers' step= and the model input for EpsFunction's concat=
            self.step, self.concat = kernels.choose(args.kernels, self.device, self.schedule)
            if args.fast:  # the fast path swaps the model and the drop-ins (fast.py)
                fast = fast_path(self.model, self.schedule, self.device, fused=args.kernels != "torch")
                self.model, self.step, self.concat = fast.model, fast.step, fast.concat
                print(fast.summary)
        except (CheckpointError, data.DataError, kernels.Unavailable) as e:
            sys.exit(f"error: {e}")
        self.x0, self.labels = x0.to(self.device), labels.to(self.device)  # (N, 1, 28, 28) in [-1, 1], (N,)
        self.generator = torch.Generator(device=self.device).manual_seed(args.seed)

    def class_input(self):
        """The labels for a model with a class input as well as an image one (eq. 12: eps(x_t, t, c, x_cond), trained
        with --cond image+class): the true class, as the paper's conditioning assumes it known; None for a model
        without one."""
        return self.labels if self.model.config.num_classes else None
