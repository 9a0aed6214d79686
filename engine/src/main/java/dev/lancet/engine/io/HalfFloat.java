package dev.lancet.engine.io;

/**
 * fp16 and bf16 conversions, written by hand because Java 17 lacks Float.float16ToFloat.
 * Encoding rounds to nearest, ties to even (as PyTorch and NumPy do); NaN payloads are truncated,
 * so decoding and re-encoding any 16-bit pattern gives it back unchanged.
 */
final class HalfFloat {
    private HalfFloat() {
    }

    static float f16ToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) { // inf or NaN, payload kept
            return Float.intBitsToFloat(sign | 0x7f800000 | mant << 13);
        }
        if (exp == 0) { // zero or subnormal: mant * 2^-24, exact in fp32
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | (exp + 112) << 23 | mant << 13); // rebias 15 -> 127
    }

    static short floatToF16(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int abs = x & 0x7fffffff;
        if (abs > 0x7f800000) { // NaN: keep the top payload bits, but never let it become inf
            int payload = (abs >>> 13) & 0x3ff;
            return (short) (sign | 0x7c00 | (payload == 0 ? 0x200 : payload));
        }
        if (abs >= 0x477ff000) { // >= 65520, halfway above 65504 (odd mantissa): rounds to inf
            return (short) (sign | 0x7c00);
        }
        if (abs >= 0x38800000) { // normal half (>= 2^-14): drop 13 mantissa bits with RNE; carries roll into exp
            int h = (abs - (112 << 23)) >>> 13;
            int rest = abs & 0x1fff;
            if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) {
                h++;
            }
            return (short) (sign | h);
        }
        // Subnormal or zero: a multiple of 2^-24; scaling by 2^24 is exact and rint rounds ties to even.
        return (short) (sign | (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24f));
    }

    static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) { // truncate the payload, keeping it a NaN
            int h = x >>> 16;
            return (short) ((h & 0x7f) == 0 ? h | 0x40 : h);
        }
        // RNE on the low 16 bits; overflow past the largest finite value correctly carries into inf.
        return (short) ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16);
    }
}
