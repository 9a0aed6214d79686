package dev.lancet.engine.model;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.indices;

import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.FeedForward;
import dev.lancet.engine.nn.GatedMlp;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.ReluMlp;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Structural removals, every index referring to the model the edit is applied to: query heads, key/value heads
 * (with all their query heads) and MLP channels of a block, and whole blocks (the rest renumbered). Applying it
 * removes the rows and columns physically, so the model runs forward, backward and curvature at its new shapes.
 *
 * <p>Query head h belongs to key/value head h / group. Dropping query heads of a GQA block must take the same
 * number from every remaining group, so groups stay uniform; in a multi-head block (group 1) a query head and its
 * key/value head are one structure, so dropping either drops both.
 */
public final class StructuralEdit {

    private final Map<Integer, SortedSet<Integer>> heads = new TreeMap<>();
    private final Map<Integer, SortedSet<Integer>> kvHeads = new TreeMap<>();
    private final Map<Integer, SortedSet<Integer>> channels = new TreeMap<>();
    private final SortedSet<Integer> blocks = new TreeSet<>();

    public StructuralEdit dropHeads(int block, Collection<Integer> queryHeads) {
        heads.computeIfAbsent(block, b -> new TreeSet<>()).addAll(queryHeads);
        return this;
    }

    public StructuralEdit dropKvHeads(int block, Collection<Integer> kv) {
        kvHeads.computeIfAbsent(block, b -> new TreeSet<>()).addAll(kv);
        return this;
    }

    public StructuralEdit dropChannels(int block, Collection<Integer> mlpChannels) {
        channels.computeIfAbsent(block, b -> new TreeSet<>()).addAll(mlpChannels);
        return this;
    }

    public StructuralEdit dropBlocks(Collection<Integer> dropped) {
        blocks.addAll(dropped);
        return this;
    }

    /** What is kept of one block: query heads, key/value heads and MLP channels, ascending. */
    private record Kept(int[] heads, int[] kvHeads, int[] channels) {
    }

    /**
     * The layout the edit leads to, or an {@link IllegalArgumentException} naming the first index out of range or
     * the first removal that would leave a block malformed. Nothing is changed.
     */
    public ModelLayout check(ModelConfig config, TensorNames names, ModelLayout layout) {
        List<BlockLayout> result = new ArrayList<>();
        Map<Integer, Kept> kept = plan(layout);
        for (int i = 0; i < layout.numBlocks(); i++) {
            if (!blocks.contains(i)) {
                BlockLayout b = layout.block(i);
                Kept k = kept.get(i);
                result.add(BlockLayout.of(config, names, result.size(), k.heads().length, k.kvHeads().length,
                        b.headDim(), k.channels().length, b.residualIn(), b.residualMid(), b.residualOut(), b.norm()));
            }
        }
        return new ModelLayout(result);
    }

    private Map<Integer, Kept> plan(ModelLayout layout) {
        int n = layout.numBlocks();
        for (int b : blocks) {
            requireIndex("block", b, n, "the model has " + n + " blocks");
        }
        if (!blocks.isEmpty() && layout.fused()) {
            throw new IllegalArgumentException("cannot drop blocks of a model with fused norms: each block's "
                    + "shortcuts carry the residual stream into the next block's basis");
        }
        if (blocks.size() == n) {
            throw new IllegalArgumentException("cannot drop every block of the model");
        }
        for (Map<Integer, SortedSet<Integer>> perBlock : List.of(heads, kvHeads, channels)) {
            for (int b : perBlock.keySet()) {
                requireIndex("block", b, n, "the model has " + n + " blocks");
            }
        }
        Map<Integer, Kept> kept = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            kept.put(i, keptOf(i, layout.block(i)));
        }
        return kept;
    }

    private Kept keptOf(int i, BlockLayout b) {
        SortedSet<Integer> queries = heads.getOrDefault(i, Collections.emptySortedSet());
        SortedSet<Integer> dropKv = new TreeSet<>(kvHeads.getOrDefault(i, Collections.emptySortedSet()));
        SortedSet<Integer> dropChannels = channels.getOrDefault(i, Collections.emptySortedSet());
        queries.forEach(h -> requireIndex("head", h, b.heads(), "block " + i + " has " + b.heads() + " heads"));
        dropKv.forEach(k -> requireIndex("KV head", k, b.kvHeads(), "block " + i + " has " + b.kvHeads() + " KV heads"));
        dropChannels.forEach(c -> requireIndex("channel", c, b.intermediate(),
                "block " + i + " has " + b.intermediate() + " MLP channels"));
        int group = b.group();
        if (group == 1) {
            dropKv.addAll(queries);
        }
        if (dropKv.size() == b.kvHeads()) {
            throw new IllegalArgumentException("this drops every head of block " + i + "; drop the block instead");
        }
        if (group > 1) {
            checkUniform(i, b, queries, dropKv);
        }
        if (dropChannels.size() == b.intermediate()) {
            throw new IllegalArgumentException("this drops every MLP channel of block " + i
                    + "; drop the block instead");
        }
        return new Kept(
                IntStream.range(0, b.heads()).filter(h -> !dropKv.contains(h / group) && !queries.contains(h)).toArray(),
                IntStream.range(0, b.kvHeads()).filter(k -> !dropKv.contains(k)).toArray(),
                IntStream.range(0, b.intermediate()).filter(c -> !dropChannels.contains(c)).toArray());
    }

    /** Every remaining KV group must lose the same number of query heads, and keep at least one. */
    private static void checkUniform(int i, BlockLayout b, Set<Integer> queries, Set<Integer> droppedKv) {
        int group = b.group();
        int[] perGroup = new int[b.kvHeads()];
        queries.forEach(h -> perGroup[h / group]++);
        int expected = -1;
        for (int k = 0; k < b.kvHeads(); k++) {
            if (droppedKv.contains(k)) {
                continue;
            }
            if (expected >= 0 && perGroup[k] != expected) {
                throw new IllegalArgumentException("block " + i + ": uneven query-head removal across KV groups ("
                        + perGroup[k] + " from group " + k + ", " + expected + " from another); GQA groups of "
                        + group + " must stay uniform, so drop the same number of heads from every group");
            }
            expected = perGroup[k];
        }
        if (expected == group) {
            throw new IllegalArgumentException("this drops every head of block " + i + "; drop the block instead");
        }
    }

    private static void requireIndex(String what, int index, int size, String context) {
        if (index < 0 || index >= size) {
            throw new IllegalArgumentException(what + " " + index + " is out of range (" + context + ")");
        }
    }

    /**
     * Applies the edit to {@code model} and returns the edited model, which takes over its weights: {@code model}
     * must not be used afterwards, and the weights the edit removed are freed. Throws before changing anything if
     * the edit does not fit the model ({@link #check}).
     */
    public Transformer applyTo(Transformer model) {
        ModelLayout newLayout = check(model.config(), model.names(), model.layout());
        Map<Integer, Kept> kept = plan(model.layout());
        List<DecoderBlock> newBlocks = new ArrayList<>();
        Set<INDArray> replaced = Collections.newSetFromMap(new IdentityHashMap<>());
        Workspaces.outside(() -> {
            for (int i = 0; i < model.blocks().size(); i++) {
                DecoderBlock block = model.blocks().get(i);
                if (blocks.contains(i)) {
                    block.linears().forEach(l -> replaced.addAll(arrays(l)));
                    replaced.add(block.attentionNorm().weight());
                    replaced.add(block.feedForwardNorm().weight());
                    if (block.attentionNorm().bias() != null) {
                        replaced.add(block.attentionNorm().bias());
                        replaced.add(block.feedForwardNorm().bias());
                    }
                    continue;
                }
                newBlocks.add(cut(model, block, model.layout().block(i), kept.get(i), newBlocks.size(), replaced));
            }
            return null;
        });
        Transformer edited = model.withBlocks(newLayout, newBlocks);
        Set<INDArray> live = Collections.newSetFromMap(new IdentityHashMap<>());
        live.addAll(edited.parameters().values());
        replaced.stream().filter(a -> !live.contains(a)).forEach(INDArray::close);
        return edited;
    }

    private static List<INDArray> arrays(Linear l) {
        return l.bias() == null ? List.of(l.weight()) : List.of(l.weight(), l.bias());
    }

    /** Block {@code old} with only the kept heads and channels, named as block {@code index}. */
    private static DecoderBlock cut(Transformer model, DecoderBlock old, BlockLayout shape, Kept k, int index,
                                    Set<INDArray> replaced) {
        TensorNames names = model.names();
        int d = shape.headDim();
        int[] qRows = headRows(k.heads(), d);
        int[] kvRows = headRows(k.kvHeads(), d);
        Attention a = old.attention();
        Attention attention = new Attention(
                keepRows(a.q(), qRows, names.linear(index, LinearRole.Q), replaced),
                keepRows(a.k(), kvRows, names.linear(index, LinearRole.K), replaced),
                keepRows(a.v(), kvRows, names.linear(index, LinearRole.V), replaced),
                keepColumns(a.o(), qRows, names.linear(index, LinearRole.O), replaced),
                k.heads().length, k.kvHeads().length, d, a.rope());
        int[] c = k.channels();
        FeedForward feedForward;
        if (old.feedForward() instanceof GatedMlp m) {
            feedForward = new GatedMlp(keepRows(m.gate(), c, names.linear(index, LinearRole.GATE), replaced),
                    keepRows(m.up(), c, names.linear(index, LinearRole.UP), replaced),
                    keepColumns(m.down(), c, names.linear(index, LinearRole.DOWN), replaced));
        } else {
            ReluMlp m = (ReluMlp) old.feedForward();
            feedForward = new ReluMlp(keepRows(m.fc1(), c, names.linear(index, LinearRole.UP), replaced),
                    keepColumns(m.fc2(), c, names.linear(index, LinearRole.DOWN), replaced));
        }
        return old.with(old.attentionNorm().renamed(names.attentionNorm(index)), attention,
                old.feedForwardNorm().renamed(names.feedForwardNorm(index)), feedForward);
    }

    /** Rows of the given heads in a [heads·d, in] projection. */
    private static int[] headRows(int[] keptHeads, int d) {
        return IntStream.of(keptHeads).flatMap(h -> IntStream.range(h * d, h * d + d)).toArray();
    }

    /** Output rows {@code rows} of a layer (and its bias entries); the layer itself when all are kept. */
    static Linear keepRows(Linear l, int[] rows, String name, Set<INDArray> replaced) {
        if (rows.length == l.outFeatures()) {
            return new Linear(name, l.weight(), l.bias(), l.tracked());
        }
        replaced.addAll(arrays(l));
        long[] at = IntStream.of(rows).asLongStream().toArray();
        return new Linear(name, l.weight().getRows(rows), l.bias() == null ? null : l.bias().get(indices(at)).dup(),
                l.tracked());
    }

    /** Input columns {@code columns} of a layer; its bias belongs to its outputs and stays whole. */
    static Linear keepColumns(Linear l, int[] columns, String name, Set<INDArray> replaced) {
        if (columns.length == l.inFeatures()) {
            return new Linear(name, l.weight(), l.bias(), l.tracked());
        }
        replaced.add(l.weight());
        long[] at = IntStream.of(columns).asLongStream().toArray();
        return new Linear(name, l.weight().get(all(), indices(at)).dup('c'), l.bias(), l.tracked());
    }
}
