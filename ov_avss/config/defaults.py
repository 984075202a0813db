"""Every config key the framework reads, with its default: the one place defaults live.

Key names follow detectron2 / Mask2Former / the original OV-AVSS release so that their YAML
files load unchanged. The only keys nothing reads are ``COMPATIBILITY_DEFAULTS`` (at the end):
the published YAMLs of the original releases set them, so they are accepted, and setting one to
another value logs a warning that it has no effect (``CfgNode.merge_from_file``).
"""
from fvcore.common.config import CfgNode as CN

_C = CN()

# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
_C.MODEL = CN()
# "auto" picks cuda when a GPU is visible, else cpu; "cpu" / "cuda" / "cuda:N" force a device.
_C.MODEL.DEVICE = "auto"
_C.MODEL.META_ARCHITECTURE = "OV_AVSS"
# torch.compile the model's heavy parts (its COMPILED_PARTS: backbone, pixel decoder and
# decoders) in place, for training and inference; the first steps pay the compilation.
_C.MODEL.COMPILE = False
# Initial weights: a detectron2 .pkl (e.g. the Mask2Former COCO models), a torch .pth, or ''.
_C.MODEL.WEIGHTS = ""
# RGB, 0-255 scale.
_C.MODEL.PIXEL_MEAN = [123.675, 116.280, 103.530]
_C.MODEL.PIXEL_STD = [58.395, 57.120, 57.375]

_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.NAME = "build_resnet_backbone"
# Freeze the stem (1) and the first N-1 residual stages; 0 trains everything.
_C.MODEL.BACKBONE.FREEZE_AT = 0

_C.MODEL.RESNETS = CN()
_C.MODEL.RESNETS.DEPTH = 50
_C.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
_C.MODEL.RESNETS.NORM = "FrozenBN"
_C.MODEL.RESNETS.NUM_GROUPS = 1
_C.MODEL.RESNETS.WIDTH_PER_GROUP = 64
_C.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
_C.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
_C.MODEL.RESNETS.STRIDE_IN_1X1 = False
_C.MODEL.RESNETS.RES5_DILATION = 1

_C.MODEL.SWIN = CN()
_C.MODEL.SWIN.PRETRAIN_IMG_SIZE = 224
_C.MODEL.SWIN.PATCH_SIZE = 4
_C.MODEL.SWIN.EMBED_DIM = 96
_C.MODEL.SWIN.DEPTHS = [2, 2, 6, 2]
_C.MODEL.SWIN.NUM_HEADS = [3, 6, 12, 24]
_C.MODEL.SWIN.WINDOW_SIZE = 7
_C.MODEL.SWIN.MLP_RATIO = 4.0
_C.MODEL.SWIN.QKV_BIAS = True
_C.MODEL.SWIN.DROP_RATE = 0.0
_C.MODEL.SWIN.ATTN_DROP_RATE = 0.0
_C.MODEL.SWIN.DROP_PATH_RATE = 0.3
_C.MODEL.SWIN.APE = False
_C.MODEL.SWIN.PATCH_NORM = True
_C.MODEL.SWIN.OUT_FEATURES = ["res2", "res3", "res4", "res5"]

# PVT-v2 backbone (MODEL.BACKBONE.NAME "PVTv2Backbone"): timm's implementation, outputs
# res2..res5 (strides 4..32) after each stage's norm.
_C.MODEL.PVT_V2 = CN()
# One of timm's pvt_v2_b0 .. pvt_v2_b5.
_C.MODEL.PVT_V2.VARIANT = "pvt_v2_b5"
# Stochastic depth, linear over all blocks (timm's default is 0; the AVSBench release uses 0.1).
_C.MODEL.PVT_V2.DROP_PATH_RATE = 0.1
# ImageNet weights of the original PVT-v2 release (e.g. pvt_v2_b5.pth), loaded at build through
# timm's mapping of its names; '' keeps random weights.
_C.MODEL.PVT_V2.WEIGHTS = ""

# Audio encoder (VGGish; it declares its front end, ov_avss.audio.VGGISH_FRONT_END).
_C.MODEL.AUDIO = CN()
_C.MODEL.AUDIO.NAME = "VGGish"
_C.MODEL.AUDIO.WEIGHTS = "pre_models/vggish-10086976.pth"
# Random initialisation instead of WEIGHTS: only for tests and the synthetic quickstart.
_C.MODEL.AUDIO.RANDOM_INIT = False
_C.MODEL.AUDIO.FREEZE = True
# A frozen encoder maps the same log-mel example to the same embedding: remember up to this many
# embeddings (keyed by the example's bytes) instead of recomputing them every epoch, as AVSBench
# pipelines precompute VGGish features. 0 disables; ignored when FREEZE is False.
_C.MODEL.AUDIO.EMBEDDING_CACHE_SIZE = 100000

# Pixel decoder ("sem_seg head" in Mask2Former's naming).
_C.MODEL.SEM_SEG_HEAD = CN()
_C.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["res2", "res3", "res4", "res5"]
_C.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 1
_C.MODEL.SEM_SEG_HEAD.CONVS_DIM = 256
_C.MODEL.SEM_SEG_HEAD.MASK_DIM = 256
_C.MODEL.SEM_SEG_HEAD.NORM = "GN"
_C.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "MSDeformAttnPixelDecoderAV"
_C.MODEL.SEM_SEG_HEAD.COMMON_STRIDE = 4
_C.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 6
_C.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES = ["res3", "res4", "res5"]
_C.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS = 4
_C.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = 8
_C.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD = 1024
# Multi-scale deformable attention implementation (docs/ops.md): "auto" (our kernel on CUDA, the
# faster of kernel and PyTorch path on CPU, PyTorch when the kernel is unavailable), "kernel"
# (error if unavailable) or "pytorch".
_C.MODEL.SEM_SEG_HEAD.MSDA_IMPL = "auto"
# Audio-visual bi-directional attention fusion in the pixel decoder.
_C.MODEL.SEM_SEG_HEAD.AV_FUSION_ENABLED = True
_C.MODEL.SEM_SEG_HEAD.AV_FUSION_NHEADS = 8
_C.MODEL.SEM_SEG_HEAD.AV_FUSION_LAYER_SCALE_INIT = 1.0 / 6.0
# Width of queries/keys/values inside the fusion attention (the original uses the encoder FFN
# width, 1024) and dropout on its attention probabilities.
_C.MODEL.SEM_SEG_HEAD.AV_FUSION_EMBED_DIM = 1024
_C.MODEL.SEM_SEG_HEAD.AV_FUSION_DROPOUT = 0.1

_C.MODEL.MASK_FORMER = CN()
_C.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = "AudioVideoMaskedTransformerDecoder"
_C.MODEL.MASK_FORMER.DEEP_SUPERVISION = True
_C.MODEL.MASK_FORMER.NO_OBJECT_WEIGHT = 0.1
_C.MODEL.MASK_FORMER.CLASS_WEIGHT = 2.0
_C.MODEL.MASK_FORMER.MASK_WEIGHT = 5.0
_C.MODEL.MASK_FORMER.DICE_WEIGHT = 5.0
_C.MODEL.MASK_FORMER.HIDDEN_DIM = 256
_C.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 100
_C.MODEL.MASK_FORMER.NHEADS = 8
_C.MODEL.MASK_FORMER.DROPOUT = 0.0
_C.MODEL.MASK_FORMER.DIM_FEEDFORWARD = 2048
# Number of decoder layers + 1: the extra one is the prediction from the learnable queries.
_C.MODEL.MASK_FORMER.DEC_LAYERS = 10
_C.MODEL.MASK_FORMER.PRE_NORM = False
_C.MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ = False
_C.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = 32
_C.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 112 * 112
_C.MODEL.MASK_FORMER.OVERSAMPLE_RATIO = 3.0
_C.MODEL.MASK_FORMER.IMPORTANCE_SAMPLE_RATIO = 0.75
# Size of the learned per-frame audio position table: the longest window (frames) the decoder takes.
_C.MODEL.MASK_FORMER.MAX_NUM_FRAMES = 10

_C.MODEL.MASK_FORMER.TEST = CN()
# Number of (query, category) pairs painted into the semantic map, in score order.
_C.MODEL.MASK_FORMER.TEST.TOP_K = 10
# Mask logits above this are foreground.
_C.MODEL.MASK_FORMER.TEST.MASK_LOGIT_THRESHOLD = 0.0

# Open-vocabulary classification with a frozen CLIP.
_C.MODEL.CLIP_ADAPTER = CN()
# Prompt templates: "vild", "imagenet", "single" or "predefined" (PREDEFINED_PROMPT_TEMPLATES).
_C.MODEL.CLIP_ADAPTER.PROMPT_NAME = "vild"
_C.MODEL.CLIP_ADAPTER.PREDEFINED_PROMPT_TEMPLATES = ["a sculpture of a {}."]
# Published names ("ViT-B/16", "ViT-L/14@336px") or open_clip names ("ViT-B-16").
_C.MODEL.CLIP_ADAPTER.CLIP_MODEL_NAME = "ViT-B/16"
# Local weight file, or an open_clip pretrained tag resolved from the offline hub cache.
_C.MODEL.CLIP_ADAPTER.CLIP_PRETRAINED = "pre_models/ViT-B-16.pt"
# Random CLIP weights instead of CLIP_PRETRAINED: only for tests and the synthetic quickstart.
_C.MODEL.CLIP_ADAPTER.RANDOM_INIT = False

# --- Inference as the original release, and this framework's extensions to it ----------------
# (docs/avsbench_ov.md "Release and extensions"). With every extension off (the defaults, and the
# published configs) the model is the release's: each query is named by CLIP alone, the top
# TEST.TOP_K (query, name) pairs are kept and those scoring above SCORE_THRESHOLD are painted.
# Kept pairs whose name probability is at most this are not painted (the release's test script:
# 0.3). Used without OBJECTNESS_RANKING only.
_C.MODEL.MASK_FORMER.TEST.SCORE_THRESHOLD = 0.3
_C.MODEL.OV_EXTENSIONS = CN()
# A learned head maps each final query embedding into CLIP's text space (cross-entropy over the
# window's training vocabulary on matched queries, weight LOSS_WEIGHT); at test time its
# probabilities are combined with CLIP's per name: p ∝ p_head^(1 - w) * p_clip^w, w =
# CLIP_WEIGHT_SEEN for names in SEEN_CATEGORIES ([] = the vocabularies of DATASETS.TRAIN), else
# CLIP_WEIGHT_NOVEL.
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD = CN()
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED = False
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD.CLIP_WEIGHT_SEEN = 0.5
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD.CLIP_WEIGHT_NOVEL = 0.8
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES = []
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD.LOSS_WEIGHT = 2.0
# False: names outside SEEN_CATEGORIES are never chosen (probability 0, the ensemble renormalised
# over the seen names). For a CLIP that cannot name unseen categories (random weights: the
# quickstart), where the head, never trained against those names, would otherwise confuse them
# with seen ones.
_C.MODEL.OV_EXTENSIONS.LEARNED_HEAD.NAME_UNSEEN = True
# Ranking by objectness: only the NUM_CANDIDATE_QUERIES queries (at least TEST.TOP_K) with the
# highest "sounding object" probability are named, and only if their mask logits at the decoder's
# resolution are positive somewhere; a pair scores objectness * name probability, and the
# TEST.TOP_K kept pairs scoring above SCORE_THRESHOLD (not TEST.SCORE_THRESHOLD: products are on
# another scale) are painted. 0.0 paints every pair with a region.
_C.MODEL.OV_EXTENSIONS.OBJECTNESS_RANKING = CN()
_C.MODEL.OV_EXTENSIONS.OBJECTNESS_RANKING.ENABLED = False
_C.MODEL.OV_EXTENSIONS.OBJECTNESS_RANKING.NUM_CANDIDATE_QUERIES = 20
_C.MODEL.OV_EXTENSIONS.OBJECTNESS_RANKING.SCORE_THRESHOLD = 0.0
# Prompts spell "emergency-car" as "emergency car" (the release writes names as given).
_C.MODEL.OV_EXTENSIONS.SPLIT_NAME_WORDS = False

# AVISM (META_ARCHITECTURE "AVISM", audio-visual instance segmentation; docs/avis.md). The
# frame-level decoder uses MODEL.MASK_FORMER.* (its queries, layers, loss weights).
_C.MODEL.AVISM = CN()
# Width of the per-frame audio input without AUDIO_ENCODER_ON (AVISeg's VGGish embeddings: 128);
# with it, the decoders take the encoder's embedding size.
_C.MODEL.AVISM.AUDIO_DIM = 128
# False: the input "audio" is the per-frame embeddings [T, AUDIO_DIM] (AVISeg FEATAudios, as the
# reference). True: it is VGGish log-mel examples [T, 1, 96, 64], embedded by a frozen
# MODEL.AUDIO encoder inside the model (then the checkpoint also holds audio_encoder.*).
_C.MODEL.AVISM.AUDIO_ENCODER_ON = False
# Freeze backbone, pixel decoder and frame decoder (train the video-level module only).
_C.MODEL.AVISM.FREEZE_DETECTOR = False
# Video-level module.
_C.MODEL.AVISM.HIDDEN_DIM = 256  # must equal MODEL.MASK_FORMER.HIDDEN_DIM
_C.MODEL.AVISM.NUM_OBJECT_QUERIES = 100  # video queries = tracks
_C.MODEL.AVISM.NHEADS = 8
_C.MODEL.AVISM.DIM_FEEDFORWARD = 2048
# Window self-attention layers over the frame queries, and as many audio cross-attention layers.
_C.MODEL.AVISM.ENC_LAYERS = 6
# Window length in frames; odd layers shift windows by half a window (frame queries: at inference).
_C.MODEL.AVISM.ENC_WINDOW_SIZE = 6
# Video-query decoder rounds.
_C.MODEL.AVISM.DEC_LAYERS = 3
_C.MODEL.AVISM.PRE_NORM = False
# Linear projection of the frame queries before the video module (the reference: True).
_C.MODEL.AVISM.ENFORCE_INPUT_PROJ = True
# Weight of the query similarity loss (loss_clip_sim, VITA's); > 0 also builds its frame / video
# embedding heads (sim_embed_frame / _clip, in the reference's checkpoints). 1.0: what the release
# trained with whatever its SIM_WEIGHT (its weight dict names the term loss_avism_sim, its
# criterion returns loss_clip_sim, so the weighting skips it; docs/avis.md).
_C.MODEL.AVISM.SIM_WEIGHT = 1.0
# Weight of the no-object class in the video module's cross-entropy.
_C.MODEL.AVISM.NO_OBJECT_WEIGHT = 0.1
# Video-module predictions of every decoder round (True) or the last only, in training.
_C.MODEL.AVISM.DEEP_SUPERVISION = True
# Frame-decoder rounds whose queries feed the video module in training (the last one in eval).
_C.MODEL.AVISM.LAST_LAYER_NUM = 3
# Inference over a whole video: frames per backbone-to-frame-decoder chunk, frames per mask
# upsampling chunk, and the length above which mask features and masks wait on the CPU.
_C.MODEL.AVISM.TEST_RUN_CHUNK_SIZE = 18
_C.MODEL.AVISM.TEST_INTERPOLATE_CHUNK_SIZE = 5
_C.MODEL.AVISM.TEST_MAX_FRAMES_ON_DEVICE = 36
# (video query, class) pairs kept by score before thresholding, and the track score threshold.
_C.MODEL.AVISM.TEST_TOPK = 100
_C.MODEL.AVISM.TEST_SCORE_THRESHOLD = 0.3

# TPAVI (META_ARCHITECTURE "TPAVI", AVSBench's own baseline; docs/tpavi.md). Backbone from
# MODEL.BACKBONE (res2..res5), frozen audio encoder from MODEL.AUDIO.
_C.MODEL.TPAVI = CN()
# Width of the dilated reducers, the TPAVI blocks and the decoder.
_C.MODEL.TPAVI.CHANNELS = 256
# Output channels: 1 = one sounding-object logit (S4 / MS3, sigmoid); K + 1 = background + the
# dataset's K categories (AVSS, softmax; class k is the label space's label k).
_C.MODEL.TPAVI.NUM_CLASSES = 1
# Backbone stages (0 = res2 .. 3 = res5) whose features pass a TPAVI block.
_C.MODEL.TPAVI.STAGES = [0, 1, 2, 3]
# Frames per TPAVI attention window: an input window is cut into attention windows that attend
# independently (the release hard-codes 5, also inside AVSS's 10-frame videos).
_C.MODEL.TPAVI.WINDOW_FRAMES = 5
# Window length the model runs on: shorter windows are padded with frames of the mean colour whose
# audio embeddings, features and outputs are zeroed (AVSS: 10, v1 videos padded 5 -> 10).
_C.MODEL.TPAVI.CLIP_FRAMES = 5
# Bias of the audio projection ("align_channel") in every TPAVI block (S4 / MS3: True; AVSS: False).
_C.MODEL.TPAVI.AUDIO_PROJECTION_BIAS = True
# The audio-visual matching (AVM) loss: "" (off, S4), "soft_mask_batch_sum" (MS3: sigmoid of the
# pooled logits, KL summed over the batch) or "hard_mask_frame_mean" (AVSS: argmax != background,
# KL averaged over the supervised frames); averaged over AVM_STAGES, weighted by AVM_WEIGHT.
_C.MODEL.TPAVI.AVM_LOSS = ""
_C.MODEL.TPAVI.AVM_STAGES = [0, 1, 2, 3]
_C.MODEL.TPAVI.AVM_WEIGHT = 0.5

# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------
_C.INPUT = CN()
_C.INPUT.MIN_SIZE_TRAIN = (240, 360, 480)
_C.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice_by_clip"
_C.INPUT.MAX_SIZE_TRAIN = 1333
_C.INPUT.MIN_SIZE_TEST = 360
_C.INPUT.MAX_SIZE_TEST = 1333
# "flip_by_clip" (one coin per window), "flip_by_frame", "none".
_C.INPUT.RANDOM_FLIP = "flip_by_clip"
# (height, width): resize every frame to exactly this size, aspect ratio not kept, instead of
# MIN_SIZE_TRAIN / MIN_SIZE_TEST (AVSBench's S4 / MS3 frames, AVSS test frames: (224, 224)); ().
_C.INPUT.FIXED_SIZE_TRAIN = ()
_C.INPUT.FIXED_SIZE_TEST = ()
_C.INPUT.CROP = CN()
_C.INPUT.CROP.ENABLED = False
# "absolute" / "absolute_range" (random, detectron2's), "absolute_center" (centred (h, w)).
_C.INPUT.CROP.TYPE = "absolute_range"
_C.INPUT.CROP.SIZE = (600, 720)
# Frames per training/testing window.
_C.INPUT.SAMPLING_FRAME_NUM = 5
# How 10-frame (v2) videos are cut: "windows" gives SAMPLING_FRAME_NUM-frame windows,
# "full" keeps the whole video.
_C.INPUT.LONG_CLIP_MODE = "windows"

# ---------------------------------------------------------------------------------------------
# Datasets and loading
# ---------------------------------------------------------------------------------------------
_C.DATASETS = CN()
# Folder holding AVSBench-semantic/ and AVSBench-object/; '' means $OVAVSS_DATASETS or
# ./datasets.
_C.DATASETS.ROOT = ""
_C.DATASETS.TRAIN = ("avsbench_ov_train_base",)
_C.DATASETS.TEST = ("avsbench_ov_test",)

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4
_C.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True
_C.DATALOADER.PIN_MEMORY = True
# Check every file of every training video (presence, image and wav headers, mask sizes) when the
# train loader is built, before iteration 0 (ov_avss/data/dataset_check.py).
_C.DATALOADER.CHECK_FILES = True

# ---------------------------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.OPTIMIZER = "ADAMW"  # or "ADAM", "SGD"
# "WarmupMultiStepLR", "WarmupCosineLR", "WarmupPolyLR".
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
_C.SOLVER.MAX_ITER = 96228
_C.SOLVER.BASE_LR = 0.0001
_C.SOLVER.BASE_LR_END = 0.0
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
_C.SOLVER.WEIGHT_DECAY = 0.05
# Weight decay on normalisation layers and on embeddings (nn.Embedding, query/position tables).
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
_C.SOLVER.WEIGHT_DECAY_EMBED = 0.0
_C.SOLVER.WEIGHT_DECAY_BIAS = None  # None: same as WEIGHT_DECAY
_C.SOLVER.BIAS_LR_FACTOR = 1.0
_C.SOLVER.BACKBONE_MULTIPLIER = 0.1
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.STEPS = (72171, 88209)
_C.SOLVER.WARMUP_FACTOR = 1.0
_C.SOLVER.WARMUP_ITERS = 10
_C.SOLVER.WARMUP_METHOD = "linear"
_C.SOLVER.POLY_LR_POWER = 0.9
_C.SOLVER.POLY_LR_CONSTANT_ENDING = 0.0
_C.SOLVER.CHECKPOINT_PERIOD = 5000
# Windows per iteration summed over all processes.
_C.SOLVER.IMS_PER_BATCH = 1
# Accumulate gradients over this many micro-batches before each optimizer step.
_C.SOLVER.GRAD_ACCUM_STEPS = 1
_C.SOLVER.CLIP_GRADIENTS = CN()
_C.SOLVER.CLIP_GRADIENTS.ENABLED = True
# "full_model" (one norm over all parameters), "value" or "norm" (per parameter).
_C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.01
_C.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
_C.SOLVER.AMP = CN()
_C.SOLVER.AMP.ENABLED = False
# "float16" (with a gradient scaler) or "bfloat16".
_C.SOLVER.AMP.DTYPE = "float16"

# ---------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------
_C.TEST = CN()
# Evaluate every N iterations during training; 0 disables (the final evaluation still runs).
_C.TEST.EVAL_PERIOD = 0
# Keep the checkpoint of the best evaluation during training as OUTPUT_DIR/model_best.pth: a
# "<group>/<metric>" of DATASETS.TEST[0]'s results, higher is better (e.g. "binary_avs/mIoU",
# "sem_seg/mIoU"); '' keeps none.
_C.TEST.BEST_CHECKPOINT_METRIC = ""
# Re-score with the audio removed: "none", "zero" (silence) or "shuffle" (audio of another
# window).
_C.TEST.AUDIO_ABLATION = "none"
# Write palette PNG predictions under OUTPUT_DIR/inference/<dataset>/predictions.
_C.TEST.EXPORT_PREDICTIONS = False
# Write overlay JPEGs (frame + predicted masks + category names) of the dataset's first N videos
# under OUTPUT_DIR/inference/<dataset>/overlays/<uid>/<frame>.jpg; 0 disables.
_C.TEST.VISUALIZE_NUM_CLIPS = 0
# Evaluation protocols (docs/evaluation.md). avsbench_binary (S4 / MS3) takes the max-F over
# thresholds per batch of this many consecutive test windows and averages the batch values, as
# AVSBench's test.sh (--test_batch_size 4) does; the pooled variant (one batch) is reported too.
_C.TEST.AVSBENCH_BINARY_BATCH_CLIPS = 4

# ---------------------------------------------------------------------------------------------
# Misc
# ---------------------------------------------------------------------------------------------
_C.OUTPUT_DIR = "./output"
# Negative: a random seed, logged. Each rank adds its rank to the seed.
_C.SEED = -1
_C.CUDNN_BENCHMARK = False
# Use only deterministic algorithms (slower; for reproducibility checks).
_C.DETERMINISTIC = False
# Iterations between log lines / metrics.json records.
_C.LOG_PERIOD = 20
# DistributedDataParallel's find_unused_parameters: needed only when some trainable parameters
# get no gradient in an iteration (costs an extra graph traversal per step).
_C.DDP_FIND_UNUSED_PARAMETERS = False

# ---------------------------------------------------------------------------------------------
# Accepted for compatibility: read by nothing
# ---------------------------------------------------------------------------------------------
# The published YAMLs of the original OV-AVSS release (and of detectron2 / Mask2Former, which it
# copies) set these keys; they select behaviour this framework does not have (other
# architectures' heads and tests, side-adapter CLIP variants, pseudo-video pretraining,
# multi-dataset ratios). The defaults are the release YAMLs' values, so those files load
# silently; any other value logs a warning naming the key (ov_avss.config.config).
COMPATIBILITY_DEFAULTS = {
    "VERSION": 2,
    "MODEL.MASK_ON": True,
    "MODEL.RESNETS.STEM_TYPE": "basic",
    "MODEL.RESNETS.RES5_MULTI_GRID": [1, 1, 1],
    "MODEL.SEM_SEG_HEAD.NAME": "MaskFormerHeadAV",
    # The ignore label is the dataset's (DatasetMetadata), not the config's.
    "MODEL.SEM_SEG_HEAD.IGNORE_VALUE": 255,
    "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT": 1.0,
    "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE": "multi_scale_pixel_decoder",
    "MODEL.MASK_FORMER.ENC_LAYERS": 0,
    # Mask2Former's inference switches and thresholds; OV-AVSS's inference is TEST.TOP_K,
    # TEST.SCORE_THRESHOLD and TEST.MASK_LOGIT_THRESHOLD.
    "MODEL.MASK_FORMER.TEST.SEMANTIC_ON": False,
    "MODEL.MASK_FORMER.TEST.INSTANCE_ON": True,
    "MODEL.MASK_FORMER.TEST.PANOPTIC_ON": False,
    "MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD": 0.8,
    "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD": 0.8,
    # The release ignores these too; the learned text-space head they once named here is
    # MODEL.OV_EXTENSIONS.LEARNED_HEAD.
    "MODEL.CLIP_ADAPTER.NAME": "ClipAdapter",
    "MODEL.CLIP_ADAPTER.CLIP_ENSEMBLE": True,
    "MODEL.CLIP_ADAPTER.CLIP_ENSEMBLE_WEIGHT": 0.5,
    # Frames are always RGB; augmentations are INPUT.RANDOM_FLIP / MIN_SIZE_TRAIN / CROP.
    "INPUT.FORMAT": "RGB",
    "INPUT.AUGMENTATIONS": [],
    "INPUT.PSEUDO.AUGMENTATIONS": ["rotation"],
    "INPUT.PSEUDO.MIN_SIZE_TRAIN": (240, 360, 480),
    "INPUT.PSEUDO.MIN_SIZE_TRAIN_SAMPLING": "choice_by_clip",
    "INPUT.PSEUDO.CROP.ENABLED": False,
    "INPUT.PSEUDO.CROP.TYPE": "absolute_range",
    "INPUT.PSEUDO.CROP.SIZE": (600, 720),
    # Training datasets are concatenated and sampled uniformly.
    "DATASETS.DATASET_RATIO": [1.0],
}


def _add_compatibility_keys(cfg: CN) -> None:
    for key, value in COMPATIBILITY_DEFAULTS.items():
        *sections, leaf = key.split(".")
        node = cfg
        for section in sections:
            if section not in node:
                node[section] = CN()
            node = node[section]
        node[leaf] = value


_add_compatibility_keys(_C)
