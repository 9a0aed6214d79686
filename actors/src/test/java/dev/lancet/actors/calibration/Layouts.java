package dev.lancet.actors.calibration;

import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelConfig.NormKind;
import dev.lancet.engine.model.TensorNames.LinearRole;
import java.util.List;

/** Hand-made layouts for actor tests: blocks of a few arbitrary linear layers (the actors look at nothing else). */
final class Layouts {

    private Layouts() {
    }

    static LinearLayout linear(String name, int in, int out, boolean bias) {
        return new LinearLayout(name, LinearRole.Q, in, out, bias);
    }

    static BlockLayout block(LinearLayout... linears) {
        return new BlockLayout(1, 1, 1, 1, 1, 1, 1, NormKind.RMS_NORM, List.of(linears));
    }
}
