package dev.lancet.engine.slicegpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Widths as the reference computes them (int((1 − s)·D), then down to a multiple of 8), from its own figures. */
class SliceWidthTest {

    @Test
    void roundsDownToMultiplesOfEight() {
        assertEquals(144, SliceWidth.of(0.25, 192));
        assertEquals(3072, SliceWidth.of(0.25, 4096)); // Llama-2-7B at 25%
        assertEquals(3680, SliceWidth.of(0.10, 4096)); // its "10%" really slices 10.2%
        assertEquals(608, SliceWidth.of(0.20, 768));   // OPT-125m at 20%: int(614.4) = 614 → 608
        assertEquals(0.125, SliceWidth.fraction(SliceWidth.of(0.10, 192), 192), 1e-12);
    }

    @Test
    void refusesWidthsBelowEight() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SliceWidth.of(0.9, 64));
        assertEquals("--target 0.9 leaves 0 of 64 residual features; slicing keeps at least 8", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SliceWidth.of(1.0, 64));
    }
}
