package dev.lancet.engine.model;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.indices;

import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.LayerNorm;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.Norm;
import dev.lancet.engine.nn.RmsNorm;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Removes residual-stream (hidden) features d from the whole model, LLM-Pruner's channel strategy: column d of the
 * embeddings (and of OPT's position table), element d of every norm's scale and shift, input column d of every
 * linear that reads the stream (q, k, v; gate and up or fc1; the head), output row d and bias entry d of every linear
 * that writes it (o or out_proj; down or fc2). The result is a stock-shaped model with a smaller hidden_size (head_dim
 * stays, written explicitly). It is not the same function on the kept features: a norm then averages over fewer
 * features (RMSNorm's mean square, LayerNorm's mean and variance), as in the reference, which slices its norms alike.
 */
public final class HiddenChannelEdit {

    /**
     * One parameter tensor a hidden feature d runs through: its row d ({@code rows}; every 1-D tensor) or its
     * column d.
     */
    public record Part(String tensor, INDArray value, boolean rows) {
    }

    private final SortedSet<Integer> dropped = new TreeSet<>();

    public HiddenChannelEdit(Collection<Integer> features) {
        dropped.addAll(features);
    }

    /** Refuses, with a one-line reason, a model whose residual stream is not plain hidden_size wide throughout. */
    public static void requireSupported(ModelConfig config, ModelLayout layout) {
        if (layout.fused()) {
            throw new IllegalArgumentException("hidden channels of a model with fused norms (SliceGPT) cannot be "
                    + "removed: its blocks have residual widths of their own");
        }
        if (config.projectsEmbeddings()) {
            throw new IllegalArgumentException("hidden channels of " + config.modelType() + " with project_in/out "
                    + "cannot be removed: its embeddings are not the residual stream");
        }
    }

    /**
     * The members of every hidden feature's group, one module (a list of its parts, a linear's weight with its bias
     * where the bias is indexed by d too) at a time, in model order: embeddings, each block's norm, readers and
     * writer of attention then of the MLP, the final norm, the head (when it is not the tied embedding).
     */
    public static List<List<Part>> members(Transformer model) {
        requireSupported(model.config(), model.layout());
        TensorNames names = model.names();
        List<List<Part>> modules = new ArrayList<>();
        modules.add(List.of(new Part(names.embedTokens() + ".weight", model.tokenEmbedding(), false)));
        if (model.positionEmbedding() != null) {
            modules.add(List.of(new Part(names.embedPositions() + ".weight", model.positionEmbedding(), false)));
        }
        for (DecoderBlock block : model.blocks()) {
            modules.add(normParts(block.attentionNorm()));
            sublayer(modules, block.attention().linears());
            modules.add(normParts(block.feedForwardNorm()));
            sublayer(modules, block.feedForward().linears());
        }
        if (model.finalNorm() != null) {
            modules.add(normParts(model.finalNorm()));
        }
        if (!model.config().tiedHead()) {
            modules.add(List.of(new Part(names.head() + ".weight", model.head(), false)));
        }
        return modules;
    }

    /** Every linear of a sublayer but the last reads the stream (a column each); the last writes it (row and bias). */
    private static void sublayer(List<List<Part>> modules, List<Linear> linears) {
        for (Linear reader : linears.subList(0, linears.size() - 1)) {
            modules.add(List.of(new Part(reader.name() + ".weight", reader.weight(), false)));
        }
        Linear writer = linears.get(linears.size() - 1);
        List<Part> parts = new ArrayList<>(List.of(new Part(writer.name() + ".weight", writer.weight(), true)));
        if (writer.bias() != null) {
            parts.add(new Part(writer.name() + ".bias", writer.bias(), true));
        }
        modules.add(parts);
    }

    private static List<Part> normParts(Norm norm) {
        List<Part> parts = new ArrayList<>(List.of(new Part(norm.name() + ".weight", norm.weight(), true)));
        if (norm.bias() != null) {
            parts.add(new Part(norm.name() + ".bias", norm.bias(), true));
        }
        return parts;
    }

    /**
     * Parameters one hidden feature holds, what removing it takes from the model: an embedding column (and a position
     * column), a norm entry (and shift), per block an input column of each reader (its output width) and an output
     * row of each writer (its input width, and a bias entry), and a head column unless the head is tied.
     */
    public static long parametersPerFeature(ModelConfig config, ModelLayout layout) {
        long norms = config.normBias() ? 2 : 1;
        long total = config.vocabSize() + (config.tiedHead() ? 0 : config.vocabSize())
                + (config.positions() == ModelConfig.Positions.LEARNED_OFFSET_2 ? config.maxPositions() + 2 : 0)
                + (config.hasFinalNorm() ? norms : 0);
        for (BlockLayout block : layout.blocks()) {
            total += 2 * norms;
            for (LinearLayout l : block.linears()) {
                boolean writes = l.role() == TensorNames.LinearRole.O || l.role() == TensorNames.LinearRole.DOWN;
                total += writes ? l.inputsWithBias() : l.out();
            }
        }
        return total;
    }

    /**
     * The hidden size the edit leaves, or an {@link IllegalArgumentException} naming the first feature out of range,
     * or the edit removing every feature. Nothing is changed.
     */
    public int check(ModelConfig config, ModelLayout layout) {
        requireSupported(config, layout);
        int hidden = config.hiddenSize();
        for (int d : dropped) {
            if (d < 0 || d >= hidden) {
                throw new IllegalArgumentException("hidden channel " + d + " is out of range (hidden_size " + hidden
                        + ")");
            }
        }
        if (dropped.size() == hidden) {
            throw new IllegalArgumentException("this removes every hidden channel of the model");
        }
        return hidden - dropped.size();
    }

    /**
     * Applies the edit to {@code model} and returns the edited model, which takes over its weights: {@code model}
     * must not be used afterwards, and the weights the edit replaced are freed. Throws before changing anything if
     * the edit does not fit the model ({@link #check}).
     */
    public Transformer applyTo(Transformer model) {
        ModelConfig config = model.config().withHiddenSize(check(model.config(), model.layout()));
        int[] kept = IntStream.range(0, model.config().hiddenSize()).filter(d -> !dropped.contains(d)).toArray();
        long[] at = IntStream.of(kept).asLongStream().toArray();
        // what keepRows/keepColumns replace; freeAllBut frees it
        Set<INDArray> scratch = Collections.newSetFromMap(new IdentityHashMap<>());
        Transformer edited = Workspaces.outside(() -> {
            List<DecoderBlock> blocks = new ArrayList<>();
            List<BlockLayout> layouts = new ArrayList<>();
            for (int i = 0; i < model.blocks().size(); i++) {
                DecoderBlock b = model.blocks().get(i);
                blocks.add(b.with(norm(b.attentionNorm(), at),
                        b.attention().mapInputs(l -> StructuralEdit.keepColumns(l, kept, l.name(), scratch))
                                .mapOutput(l -> StructuralEdit.keepRows(l, kept, l.name(), scratch)),
                        norm(b.feedForwardNorm(), at),
                        b.feedForward().mapInputs(l -> StructuralEdit.keepColumns(l, kept, l.name(), scratch))
                                .mapOutput(l -> StructuralEdit.keepRows(l, kept, l.name(), scratch))));
                BlockLayout shape = model.layout().block(i);
                layouts.add(BlockLayout.of(config, model.names(), i, shape.heads(), shape.kvHeads(), shape.headDim(),
                        shape.intermediate()));
            }
            INDArray tokens = columns(model.tokenEmbedding(), at);
            INDArray positions = model.positionEmbedding() == null ? null : columns(model.positionEmbedding(), at);
            INDArray head = config.tiedHead() ? tokens : columns(model.head(), at);
            Norm finalNorm = model.finalNorm() == null ? null : norm(model.finalNorm(), at);
            return model.withParts(config, new ModelLayout(layouts), tokens, positions, blocks, finalNorm, head,
                    model.headBias());
        });
        model.freeAllBut(edited);
        return edited;
    }

    private static INDArray columns(INDArray table, long[] at) {
        return table.get(all(), indices(at)).dup('c');
    }

    /** The norm over the kept features: its scale and shift entries. */
    private static Norm norm(Norm norm, long[] at) {
        if (norm instanceof RmsNorm r) {
            return new RmsNorm(r.name(), r.weight().get(indices(at)).dup(), r.eps());
        }
        if (norm instanceof LayerNorm l) {
            return new LayerNorm(l.name(), l.weight().get(indices(at)).dup(), l.bias().get(indices(at)).dup(), l.eps());
        }
        throw new IllegalArgumentException("cannot remove features of the parameter-free norm " + norm.name());
    }
}
