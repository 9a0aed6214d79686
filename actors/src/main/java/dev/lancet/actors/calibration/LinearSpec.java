package dev.lancet.actors.calibration;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.nn.Linear;

/** What a layer actor needs to know about one linear layer: its name and shape, not its weights. */
public record LinearSpec(String name, int in, int out, boolean bias) {

    public static LinearSpec of(Linear linear) {
        return new LinearSpec(linear.name(), linear.inFeatures(), linear.outFeatures(), linear.bias() != null);
    }

    KfacFactor emptyFactor() {
        return KfacFactor.empty(name, in, out, bias);
    }

    /** Whether {@code factor} holds this layer's sums: same name, bias column and shapes. */
    public boolean matches(KfacFactor factor) {
        return factor.fits(name, in, out, bias);
    }
}
