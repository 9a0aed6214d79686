package dev.lancet.engine.model;

import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.proto.LinearLayoutProto;
import dev.lancet.proto.LinearRoleProto;

/**
 * One decoder linear layer as the rest of the system sees it, without its weights: Hugging Face name (no
 * ".weight" suffix), role in its block, input and output widths, and whether it has a bias.
 */
public record LinearLayout(String name, LinearRole role, int in, int out, boolean bias) {

    public LinearLayout {
        if (in <= 0 || out <= 0) {
            throw new IllegalArgumentException(name + ": widths must be positive, got in=" + in + " out=" + out);
        }
    }

    /** Rows of the layer's KFAC A: its inputs, plus one for the bias column. */
    public int inputsWithBias() {
        return in + (bias ? 1 : 0);
    }

    public LinearLayoutProto toProto() {
        return LinearLayoutProto.newBuilder().setName(name).setRole(LinearRoleProto.valueOf(role.name()))
                .setIn(in).setOut(out).setBias(bias).build();
    }

    public static LinearLayout fromProto(LinearLayoutProto p) {
        return new LinearLayout(p.getName(), LinearRole.valueOf(p.getRole().name()), p.getIn(), p.getOut(),
                p.getBias());
    }
}
