package dev.lancet.engine.io;

import static dev.lancet.engine.io.HalfFloat.bf16ToFloat;
import static dev.lancet.engine.io.HalfFloat.f16ToFloat;
import static dev.lancet.engine.io.HalfFloat.floatToBf16;
import static dev.lancet.engine.io.HalfFloat.floatToF16;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HalfFloatTest {

    private static void assertF16(int bits, float value) {
        assertEquals(value, f16ToFloat((short) bits), "decode 0x" + Integer.toHexString(bits));
        assertEquals((short) bits, floatToF16(value), "encode " + value);
    }

    @Test
    void f16KnownPatterns() {
        assertF16(0x3C00, 1.0f);
        assertF16(0xC000, -2.0f);
        assertF16(0x3555, 0.333251953125f);
        assertF16(0x7BFF, 65504f);              // largest finite
        assertF16(0x0400, 0x1p-14f);            // smallest normal
        assertF16(0x03FF, 1023 * 0x1p-24f);     // largest subnormal
        assertF16(0x0001, 0x1p-24f);            // smallest subnormal
        assertF16(0x8001, -0x1p-24f);
        assertF16(0x0000, 0.0f);
        assertF16(0x8000, -0.0f);
        assertF16(0x7C00, Float.POSITIVE_INFINITY);
        assertF16(0xFC00, Float.NEGATIVE_INFINITY);
        assertTrue(Float.isNaN(f16ToFloat((short) 0x7E00)));
        assertTrue(Float.isNaN(f16ToFloat((short) 0xFC01)));
        assertEquals((short) 0x7E00, floatToF16(Float.NaN));
    }

    @Test
    void f16RoundsToNearestEven() {
        assertEquals((short) 0x3C00, floatToF16(1 + 0x1p-11f));      // tie, 0x3C00 is even
        assertEquals((short) 0x3C02, floatToF16(1 + 3 * 0x1p-11f));  // tie, 0x3C02 is even
        assertEquals((short) 0x3C01, floatToF16(Math.nextUp(1 + 0x1p-11f)));
        assertEquals((short) 0x7BFF, floatToF16(65519f));
        assertEquals((short) 0x7C00, floatToF16(65520f));             // tie above the odd 0x7BFF goes to inf
        assertEquals((short) 0xFC00, floatToF16(-1e6f));
        assertEquals((short) 0x0000, floatToF16(0x1p-25f));           // tie between 0 and 0x0001
        assertEquals((short) 0x0001, floatToF16(Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x0002, floatToF16(3 * 0x1p-25f));       // tie, 0x0002 is even
        assertEquals((short) 0x0400, floatToF16(1023.5f * 0x1p-24f)); // largest subnormal rounds up to normal
        assertEquals((short) 0x8000, floatToF16(-1e-10f));
        assertEquals((short) 0x0000, floatToF16(Float.MIN_VALUE));
    }

    @Test
    void f16DecodesEveryPatternLikeTheFormula() {
        for (int h = 0; h < 0x10000; h++) {
            int exp = (h >>> 10) & 0x1f;
            int mant = h & 0x3ff;
            float got = f16ToFloat((short) h);
            if (exp == 0x1f) {
                assertEquals(mant != 0, Float.isNaN(got), Integer.toHexString(h));
                continue;
            }
            double magnitude = exp == 0 ? Math.scalb((double) mant, -24) : Math.scalb(1 + mant / 1024.0, exp - 15);
            double expected = (h & 0x8000) != 0 ? -magnitude : magnitude;
            assertEquals(expected, got, 0.0, Integer.toHexString(h));
            assertEquals(Math.copySign(1.0, expected), Math.copySign(1.0, got), "sign of " + Integer.toHexString(h));
        }
    }

    @Test
    void f16EveryPatternSurvivesDecodeEncode() {
        for (int h = 0; h < 0x10000; h++) {
            assertEquals((short) h, floatToF16(f16ToFloat((short) h)), Integer.toHexString(h));
        }
    }

    @Test
    void f16EveryMidpointRoundsToEven() {
        for (int h = 0; h < 0x7BFF; h++) {
            for (int sign : new int[] {0, 0x8000}) {
                float lo = f16ToFloat((short) (sign | h));
                float hi = f16ToFloat((short) (sign | (h + 1)));
                float mid = (lo + hi) / 2; // exact: needs 12 significant bits
                short even = (short) (sign | ((h & 1) == 0 ? h : h + 1));
                assertEquals(even, floatToF16(mid), "midpoint above 0x" + Integer.toHexString(sign | h));
                assertEquals((short) (sign | h), floatToF16(Math.nextAfter(mid, lo)));
                assertEquals((short) (sign | (h + 1)), floatToF16(Math.nextAfter(mid, hi)));
            }
        }
    }

    @Test
    void bf16KnownPatterns() {
        assertEquals(1.0f, bf16ToFloat((short) 0x3F80));
        assertEquals(-2.0f, bf16ToFloat((short) 0xC000));
        assertEquals((short) 0x3F80, floatToBf16(1.0f));
        assertEquals((short) 0x4049, floatToBf16((float) Math.PI));     // 0x40490FDB: low half below the tie
        assertEquals((short) 0x3F80, floatToBf16(1 + 0x1p-8f));         // tie, 0x3F80 is even
        assertEquals((short) 0x3F82, floatToBf16(1 + 3 * 0x1p-8f));     // tie, 0x3F82 is even
        assertEquals((short) 0x3F81, floatToBf16(Math.nextUp(1 + 0x1p-8f)));
        assertEquals((short) 0x7F80, floatToBf16(Float.MAX_VALUE));     // rounds past the largest bf16
        assertEquals((short) 0xFF80, floatToBf16(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0x8000, floatToBf16(-0.0f));
        assertEquals((short) 0x7FC0, floatToBf16(Float.NaN));
        assertTrue(Float.isNaN(bf16ToFloat(floatToBf16(Float.intBitsToFloat(0x7F800001))))); // payload only in low bits
    }

    @Test
    void bf16EveryPatternSurvivesDecodeEncode() {
        for (int h = 0; h < 0x10000; h++) {
            assertEquals(Float.intBitsToFloat(h << 16), bf16ToFloat((short) h), 0.0f);
            assertEquals((short) h, floatToBf16(bf16ToFloat((short) h)), Integer.toHexString(h));
        }
    }

    @Test
    void bf16EveryMidpointRoundsToEven() {
        for (int h = 0; h < 0x7F7F; h++) {
            float lo = bf16ToFloat((short) h);
            float hi = bf16ToFloat((short) (h + 1));
            float mid = lo + (hi - lo) / 2; // exact (needs 9 significant bits); (lo + hi) / 2 would overflow near the top
            short even = (short) ((h & 1) == 0 ? h : h + 1);
            assertEquals(even, floatToBf16(mid), "midpoint above 0x" + Integer.toHexString(h));
            assertEquals((short) h, floatToBf16(Math.nextAfter(mid, lo)));
            assertEquals((short) (h + 1), floatToBf16(Math.nextAfter(mid, hi)));
        }
    }
}
