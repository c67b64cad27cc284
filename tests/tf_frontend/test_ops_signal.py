"""signal.py translators vs real TF: FFT/IFFT/RFFT/IRFFT in 1-3 D, Complex, Real, Imag,
ComplexAbs, Angle, Conj (complex tensors carried as [..., 2])."""
from __future__ import annotations

import numpy as np
import pytest

from optest import check, rand, tf

raw = tf.raw_ops


def case(id_, build, *arrays, **kw):
    return pytest.param(build, arrays, kw, id=id_)


RE, IM = rand((2, 3, 8), "re"), rand((2, 3, 8), "im")
SIG = rand((2, 4, 6, 10), "sig")


def parts(z):
    return tf.math.real(z), tf.math.imag(z)


def via_complex(fn):
    return lambda re, im: parts(fn(tf.complex(re, im)))


CASES = [
    case("Complex-Real-Imag", lambda re, im: parts(tf.complex(re, im)), RE, IM),
    case("Complex-broadcast", lambda re, im: parts(tf.complex(re, im)), RE, rand((8,), "imb")),
    case("ComplexAbs", lambda re, im: tf.abs(tf.complex(re, im)), RE, IM),
    case("Angle", lambda re, im: tf.math.angle(tf.complex(re, im)),
         np.array([1, -1, 0, 0, -2, 3, 0], np.float32),
         np.array([1, 1, 2, -2, 0, -1, 0], np.float32)),
    case("Conj", via_complex(tf.math.conj), RE, IM),
    case("FFT", via_complex(tf.signal.fft), RE, IM, rtol=1e-4),
    case("IFFT", via_complex(tf.signal.ifft), RE, IM, rtol=1e-4),
    case("FFT2D", via_complex(tf.signal.fft2d), RE, IM, rtol=1e-4),
    case("IFFT2D", via_complex(tf.signal.ifft2d), RE, IM, rtol=1e-4),
    case("FFT3D", via_complex(tf.signal.fft3d), RE, IM, rtol=1e-4),
    case("IFFT3D", via_complex(tf.signal.ifft3d), RE, IM, rtol=1e-4),
    case("FFT-then-IFFT", via_complex(lambda z: tf.signal.ifft(tf.signal.fft(z))), RE, IM,
         rtol=1e-4),
    case("RFFT", lambda x: parts(tf.signal.rfft(x)), SIG, rtol=1e-4),
    case("RFFT-padded", lambda x: parts(tf.signal.rfft(x, fft_length=[16])), SIG, rtol=1e-4),
    case("RFFT-cropped-odd", lambda x: parts(tf.signal.rfft(x, fft_length=[7])), SIG, rtol=1e-4),
    case("RFFT2D", lambda x: parts(tf.signal.rfft2d(x)), SIG, rtol=1e-4),
    case("RFFT3D", lambda x: tf.abs(tf.signal.rfft3d(x)), SIG, rtol=1e-4),
    case("IRFFT", lambda x: tf.signal.irfft(tf.signal.rfft(x)), SIG, rtol=1e-4),
    case("IRFFT-length", lambda re, im: tf.signal.irfft(tf.complex(re, im), fft_length=[12]),
         RE, IM, rtol=1e-4),
    case("IRFFT2D", lambda x: tf.signal.irfft2d(tf.signal.rfft2d(x)), SIG, rtol=1e-4),
    case("IRFFT3D", lambda x: tf.signal.irfft3d(tf.signal.rfft3d(x)), SIG, rtol=1e-4),
    case("spectrogram-magnitude", lambda x: tf.abs(tf.signal.stft(x, 16, 8, 16)),
         rand((2, 64), "wave"), rtol=1e-4),
]


@pytest.mark.parametrize(("build", "arrays", "kw"), CASES)
def test_signal_op(build, arrays, kw):
    check(build, *arrays, **kw)


def test_complex_result_into_an_unaware_op_is_refused():
    from tfconv.errors import TranslationError
    with pytest.raises(TranslationError, match=r"feeds .*\(Mul\).*complex numbers only"):
        check(lambda re, im: tf.math.real(tf.complex(re, im) * tf.complex(im, re)), RE, IM)
