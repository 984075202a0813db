"""Published VGGish constants (front end and network); the only place they are written.

The VGGish encoder (``ov_avss.modeling.audio.vggish``) and its front end
(:mod:`ov_avss.audio.vggish_front_end`) both read them from here.
"""

SAMPLE_RATE = 16000
STFT_WINDOW_LENGTH_SAMPLES = 400  # 25 ms
STFT_HOP_LENGTH_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
# HTK mel scale: mel = MEL_HIGH_FREQUENCY_Q * ln(1 + hz / MEL_BREAK_FREQUENCY_HERTZ).
MEL_BREAK_FREQUENCY_HERTZ = 700.0
MEL_HIGH_FREQUENCY_Q = 1127.0
LOG_OFFSET = 0.01
EXAMPLE_WINDOW_SECONDS = 0.96
EXAMPLE_HOP_SECONDS = 0.96
NUM_FRAMES = 96  # STFT frames per example
NUM_BANDS = NUM_MEL_BANDS
# Samples one example spans: 96 STFT hops plus the rest of the last window (0.975 s).
EXAMPLE_SPAN_SAMPLES = NUM_FRAMES * STFT_HOP_LENGTH_SAMPLES + STFT_WINDOW_LENGTH_SAMPLES - STFT_HOP_LENGTH_SAMPLES
EMBEDDING_SIZE = 128

# Resampling to SAMPLE_RATE: resampy's ``kaiser_best`` filter, as resampy >= 0.3 (June 2022;
# what the releases' unpinned ``resampy`` requirement installs) ships it in
# ``resampy/data/kaiser_best.npz``: the right half of a Kaiser-windowed sinc over
# RESAMPLE_NUM_ZEROS zero crossings, tabulated with 2 ** RESAMPLE_PRECISION_BITS entries per
# crossing. The rolloff is the file's own value; the file stores no beta, so the beta here is
# the one that reproduces its table (largest difference 1.4e-11).
RESAMPLE_NUM_ZEROS = 50
RESAMPLE_PRECISION_BITS = 13
RESAMPLE_ROLLOFF = 0.9173473712608761
RESAMPLE_KAISER_BETA = 12.984585272275373
