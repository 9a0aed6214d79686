package dev.lancet.engine.model;

import dev.lancet.engine.model.ModelConfig.FeedForwardKind;
import dev.lancet.engine.model.ModelConfig.NormKind;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.proto.BlockLayoutProto;
import dev.lancet.proto.NormKindProto;
import java.util.ArrayList;
import java.util.List;

/**
 * The shape of one decoder block: query and key/value heads of {@code headDim} features, MLP channels, the
 * residual-stream widths it reads, passes from attention to the MLP, and writes (all hidden_size unless a sliced
 * model joins them with shortcut matrices), its norm kind and its linear layers in execution order (q, k, v, o,
 * then gate, up, down or fc1, fc2). A block with {@link NormKind#FUSED_RMS_NORM} has the two shortcut matrices.
 */
public record BlockLayout(int heads, int kvHeads, int headDim, int intermediate, int residualIn, int residualMid,
                          int residualOut, NormKind norm, List<LinearLayout> linears) {

    public BlockLayout {
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0 || intermediate <= 0 || residualIn <= 0 || residualMid <= 0
                || residualOut <= 0) {
            throw new IllegalArgumentException("block sizes must be positive: heads=" + heads + " kv_heads=" + kvHeads
                    + " head_dim=" + headDim + " intermediate=" + intermediate + " residual=" + residualIn + "/"
                    + residualMid + "/" + residualOut);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("heads " + heads + " is not a multiple of kv_heads " + kvHeads);
        }
        linears = List.copyOf(linears);
    }

    /**
     * The block {@code index} of a model with the given architecture: every linear named and sized from the
     * head counts and MLP width, biases where the architecture has them.
     */
    public static BlockLayout of(ModelConfig config, TensorNames names, int index, int heads, int kvHeads, int headDim,
                                 int intermediate) {
        int hidden = config.hiddenSize();
        return of(config, names, index, heads, kvHeads, headDim, intermediate, hidden, hidden, hidden, config.norm());
    }

    /** As above, reading {@code in}, passing {@code mid} and writing {@code out} features of the residual stream. */
    public static BlockLayout of(ModelConfig config, TensorNames names, int index, int heads, int kvHeads, int headDim,
                                 int intermediate, int in, int mid, int out, NormKind norm) {
        boolean qkv = config.attentionBias();
        boolean mlp = config.mlpBias();
        List<LinearLayout> linears = new ArrayList<>(List.of(
                new LinearLayout(names.linear(index, LinearRole.Q), LinearRole.Q, in, heads * headDim, qkv),
                new LinearLayout(names.linear(index, LinearRole.K), LinearRole.K, in, kvHeads * headDim, qkv),
                new LinearLayout(names.linear(index, LinearRole.V), LinearRole.V, in, kvHeads * headDim, qkv),
                new LinearLayout(names.linear(index, LinearRole.O), LinearRole.O, heads * headDim, mid,
                        config.outputBias())));
        if (config.feedForward() == FeedForwardKind.SILU_GATED) {
            linears.add(new LinearLayout(names.linear(index, LinearRole.GATE), LinearRole.GATE, mid, intermediate, mlp));
        }
        linears.add(new LinearLayout(names.linear(index, LinearRole.UP), LinearRole.UP, mid, intermediate, mlp));
        linears.add(new LinearLayout(names.linear(index, LinearRole.DOWN), LinearRole.DOWN, intermediate, out, mlp));
        return new BlockLayout(heads, kvHeads, headDim, intermediate, in, mid, out, norm, linears);
    }

    /** Whether the block's norms are folded into its linears, with shortcut matrices between its widths. */
    public boolean fused() {
        return norm == NormKind.FUSED_RMS_NORM;
    }

    /** Entries of the two shortcut matrices, in × mid and mid × out (none unless fused). */
    public long shortcutParameters() {
        return fused() ? (long) residualIn * residualMid + (long) residualMid * residualOut : 0;
    }

    /** Query heads per key/value head. */
    public int group() {
        return heads / kvHeads;
    }

    /** The linear layer playing {@code role} in this block. */
    public LinearLayout linear(LinearRole role) {
        return linears.stream().filter(l -> l.role() == role).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("block has no " + role + " layer"));
    }

    /** Weights and biases of the block's linear layers. */
    public long linearParameters() {
        return linears.stream().mapToLong(l -> (long) l.out() * l.inputsWithBias()).sum();
    }

    public BlockLayoutProto toProto() {
        BlockLayoutProto.Builder b = BlockLayoutProto.newBuilder().setHeads(heads).setKvHeads(kvHeads)
                .setHeadDim(headDim).setIntermediate(intermediate).setResidualIn(residualIn)
                .setResidualMid(residualMid).setResidualOut(residualOut).setNorm(NormKindProto.valueOf(norm.name()));
        linears.forEach(l -> b.addLinears(l.toProto()));
        return b.build();
    }

    public static BlockLayout fromProto(BlockLayoutProto p) {
        return new BlockLayout(p.getHeads(), p.getKvHeads(), p.getHeadDim(), p.getIntermediate(), p.getResidualIn(),
                p.getResidualMid(), p.getResidualOut(), NormKind.valueOf(p.getNorm().name()),
                p.getLinearsList().stream().map(LinearLayout::fromProto).toList());
    }
}
