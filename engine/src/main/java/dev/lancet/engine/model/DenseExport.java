package dev.lancet.engine.model;

import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.FeedForward;
import dev.lancet.engine.nn.GatedMlp;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.ReluMlp;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A model whose query heads, key/value heads (with their query heads) and MLP channels were removed, put back at its
 * original shapes with zeros where the removed structures were: the stock Hugging Face shapes any loader expects,
 * computing exactly what the shrunk model computes (a removed head's output columns and a removed channel's down column
 * are zero, so they contribute nothing).
 */
public final class DenseExport {

    private DenseExport() {
    }

    /**
     * @param dense       the layout before the removals
     * @param keptHeads   per block, the original index of every query head the shrunk model still has, in order
     * @param keptKvHeads per block, the original index of every key/value head the shrunk model still has, in order
     * @param keptChannels per block, the original index of every MLP channel it still has, in order
     * @return the model at the dense layout; {@code shrunk} must not be used afterwards (its replaced weights are
     *         freed)
     */
    public static Transformer restore(Transformer shrunk, ModelLayout dense, List<int[]> keptHeads,
                                      List<int[]> keptKvHeads, List<int[]> keptChannels) {
        if (dense.numBlocks() != shrunk.layout().numBlocks()) {
            throw new IllegalArgumentException("dense export keeps every block: " + dense.numBlocks() + " vs "
                    + shrunk.layout().numBlocks());
        }
        TensorNames names = shrunk.names();
        List<DecoderBlock> blocks = new ArrayList<>();
        List<INDArray> replaced = new ArrayList<>();
        Workspaces.outside(() -> {
            for (int b = 0; b < dense.numBlocks(); b++) {
                BlockLayout shape = dense.block(b);
                DecoderBlock old = shrunk.blocks().get(b);
                int d = shape.headDim();
                int[] qRows = spread(keptHeads.get(b), d);
                int[] kvRows = spread(keptKvHeads.get(b), d);
                int[] channels = keptChannels.get(b);
                Attention a = old.attention();
                Attention attention = new Attention(
                        rows(a.q(), qRows, shape.linear(LinearRole.Q), replaced),
                        rows(a.k(), kvRows, shape.linear(LinearRole.K), replaced),
                        rows(a.v(), kvRows, shape.linear(LinearRole.V), replaced),
                        columns(a.o(), qRows, shape.linear(LinearRole.O), replaced),
                        shape.heads(), shape.kvHeads(), d, a.rope());
                FeedForward feedForward;
                if (old.feedForward() instanceof GatedMlp m) {
                    feedForward = new GatedMlp(rows(m.gate(), channels, shape.linear(LinearRole.GATE), replaced),
                            rows(m.up(), channels, shape.linear(LinearRole.UP), replaced),
                            columns(m.down(), channels, shape.linear(LinearRole.DOWN), replaced));
                } else {
                    ReluMlp m = (ReluMlp) old.feedForward();
                    feedForward = new ReluMlp(rows(m.fc1(), channels, shape.linear(LinearRole.UP), replaced),
                            columns(m.fc2(), channels, shape.linear(LinearRole.DOWN), replaced));
                }
                blocks.add(old.with(old.attentionNorm(), attention, old.feedForwardNorm(), feedForward));
            }
            return null;
        });
        Transformer restored = shrunk.withBlocks(dense, blocks);
        replaced.forEach(INDArray::close);
        return restored;
    }

    /** Rows (or columns) of structures of {@code width} each, for the structures at the given original indices. */
    private static int[] spread(int[] structures, int width) {
        return IntStream.of(structures).flatMap(s -> IntStream.range(s * width, s * width + width)).toArray();
    }

    /** The layer at its dense shape: its rows at {@code at}, zeros elsewhere (its bias likewise). */
    private static Linear rows(Linear l, int[] at, LinearLayout dense, List<INDArray> replaced) {
        if (at.length == dense.out()) {
            return l;
        }
        INDArray weight = Nd4j.zeros(l.weight().dataType(), dense.out(), dense.in());
        INDArray bias = l.bias() == null ? null : Nd4j.zeros(l.bias().dataType(), dense.out());
        for (int i = 0; i < at.length; i++) {
            weight.putRow(at[i], l.weight().getRow(i));
            if (bias != null) {
                bias.putScalar(at[i], l.bias().getDouble(i));
            }
        }
        replaced.add(l.weight());
        if (l.bias() != null) {
            replaced.add(l.bias());
        }
        return new Linear(l.name(), weight, bias, l.tracked());
    }

    /** The layer at its dense shape: its columns at {@code at}, zeros elsewhere; its bias belongs to its outputs. */
    private static Linear columns(Linear l, int[] at, LinearLayout dense, List<INDArray> replaced) {
        if (at.length == dense.in()) {
            return l;
        }
        INDArray weight = Nd4j.zeros(l.weight().dataType(), dense.out(), dense.in());
        for (int j = 0; j < at.length; j++) {
            weight.putColumn(at[j], l.weight().getColumn(j));
        }
        replaced.add(l.weight());
        return new Linear(l.name(), weight, l.bias(), l.tracked());
    }
}
