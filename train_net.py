#!/usr/bin/env python
"""Train or evaluate OV-AVSS.

    python train_net.py --config-file configs/avsbench/OV_AVSS_R50.yaml --num-gpus 8
    python train_net.py --config-file ... --resume                 # continue OUTPUT_DIR
    python train_net.py --config-file ... --eval-only MODEL.WEIGHTS model_final.pth
    torchrun --nproc-per-node 8 train_net.py --config-file ...     # torchrun sets the ranks

See docs/training.md. To change a component, subclass ``ov_avss.engine.Trainer`` and override
its ``build_*`` classmethods.
"""
from ov_avss.engine import Trainer, default_main, launch_from_args, parse_and_check_args


def main(args):
    return default_main(args, Trainer)


if __name__ == "__main__":
    # Command-line mistakes end here with one "error: ..." line and exit status 2.
    launch_from_args(main, parse_and_check_args())
