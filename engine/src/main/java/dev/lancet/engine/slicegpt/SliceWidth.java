package dev.lancet.engine.slicegpt;

import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.NormFusion;

/**
 * The residual width SliceGPT keeps for a target fraction s of the hidden width: k = floor((1 − s)·D) rounded down
 * to a multiple of {@link #ROUNDING}, as the reference (0.25 of 192 → 144; its "10%" of 4096 slices 10.2%).
 */
public final class SliceWidth {

    public static final int ROUNDING = 8;

    private SliceWidth() {
    }

    /** k for {@code target} of {@code hidden}, or an {@link IllegalArgumentException} with a one-line reason. */
    public static int of(double target, int hidden) {
        if (!(target >= 0 && target < 1)) {
            throw new IllegalArgumentException("--target must be in [0, 1), got " + target);
        }
        int k = (int) Math.floor((1 - target) * hidden);
        k -= k % ROUNDING;
        if (k < ROUNDING) {
            throw new IllegalArgumentException("--target " + target + " leaves " + k + " of " + hidden
                    + " residual features; slicing keeps at least " + ROUNDING);
        }
        return k;
    }

    /** The fraction of the hidden width really sliced once k is rounded. */
    public static double fraction(int k, int hidden) {
        return 1 - (double) k / hidden;
    }

    /**
     * Checks that a model of this config and layout can be sliced to width k: its family has norm fusion, and no
     * place of its residual stream that gets sliced is already narrower than k.
     */
    public static void check(ModelConfig config, ModelLayout layout, int k) {
        NormFusion.requireSupported(config);
        int narrowest = layout.embeddingWidth();
        for (BlockLayout b : layout.blocks()) {
            narrowest = Math.min(narrowest, Math.min(b.residualIn(), b.residualMid()));
        }
        if (k > narrowest) {
            throw new IllegalArgumentException("the model is already sliced to a width of " + narrowest
                    + "; slicing to " + k + " would widen it");
        }
    }
}
