package dev.lancet.engine.curvature;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.nd4j.linalg.api.ndarray.INDArray;

/** Comparisons of curvature states computed two ways. */
public final class KfacAssertions {

    private KfacAssertions() {
    }

    /** Same layers and token counts, and sums equal to 1e-10 relative (Frobenius). */
    public static void assertSameFactors(KfacState want, KfacState got) {
        assertEquals(want.factors().size(), got.factors().size());
        for (KfacFactor w : want.factors()) {
            KfacFactor g = got.get(w.layer());
            assertEquals(w.tokens(), g.tokens(), w.layer());
            assertClose(w.sumA(), g.sumA(), w.layer() + " A");
            assertClose(w.sumG(), g.sumG(), w.layer() + " G");
        }
    }

    private static void assertClose(INDArray want, INDArray got, String what) {
        assertTrue(want.sub(got).norm2Number().doubleValue() <= 1e-10 * want.norm2Number().doubleValue(), what);
    }
}
