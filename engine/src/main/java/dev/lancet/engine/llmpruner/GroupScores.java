package dev.lancet.engine.llmpruner;

import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.HiddenChannelEdit;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.BlockGroups;
import dev.lancet.engine.prune.BlockGroups.Kind;
import dev.lancet.engine.prune.BlockGroups.Member;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.DoubleStream;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * LLM-Pruner's score of every coupled group of one kind in one block ({@link BlockGroups}: an MLP channel, or a
 * key/value head with its query heads, never the reference's stride-folded GQA importance): each member's
 * {@link Importance} over its rows (bias entries included) or columns in its layer, then the {@link Aggregation}
 * over the members; or, for the hidden-channel strategy, of every hidden feature of the model.
 */
public final class GroupScores {

    private GroupScores() {
    }

    /** Scores of groups 0 … count(kind) − 1 of block {@code block}; lower is removed first. */
    public static double[] of(Transformer model, int block, Kind kind, TaylorSettings settings,
                              TaylorGradients gradients) {
        BlockLayout shape = model.layout().block(block);
        BlockGroups groups = new BlockGroups(shape);
        int count = groups.count(kind);
        if (settings.importance() == Importance.RANDOM) {
            SplittableRandom random = new SplittableRandom(settings.seed() + 0x9E3779B97F4A7C15L * (2L * block
                    + kind.ordinal() + 1));
            return random.doubles(count).toArray();
        }
        List<double[]> perMember = new ArrayList<>();
        List<Linear> layers = model.blocks().get(block).linears();
        for (int i = 0; i < layers.size(); i++) {
            LinearLayout described = shape.linears().get(i);
            if (BlockGroups.kindOf(described.role()) != kind) {
                continue;
            }
            double[] lines = lineScores(layers.get(i), groups.member(described.role(), 0).rows(),
                    settings.importance(), gradients);
            double[] scores = new double[count];
            for (int g = 0; g < count; g++) {
                double total = 0;
                for (int line : groups.member(described.role(), g).indices()) {
                    total += lines[line];
                }
                scores[g] = settings.importance() == Importance.VECTOR ? Math.abs(total) : total;
            }
            perMember.add(scores);
        }
        return aggregate(perMember, count, settings.aggregation());
    }

    /**
     * Scores of the query heads 0 … heads − 1 of a block: each head's rows of q (bias entries included) and columns
     * of o, the {@link Aggregation} over those two members. Key and value rows stay out: a key/value head stays
     * while any of its query heads does.
     */
    public static double[] queryHeads(Transformer model, int block, TaylorSettings settings,
                                      TaylorGradients gradients) {
        BlockLayout shape = model.layout().block(block);
        int heads = shape.heads();
        if (settings.importance() == Importance.RANDOM) {
            return new SplittableRandom(settings.seed() ^ 0xC2B2AE3D27D4EB4FL * (block + 1)).doubles(heads).toArray();
        }
        Attention attention = model.blocks().get(block).attention();
        List<double[]> perMember = new ArrayList<>();
        for (Linear layer : List.of(attention.q(), attention.o())) {
            double[] lines = lineScores(layer, layer == attention.q(), settings.importance(), gradients);
            double[] scores = new double[heads];
            for (int h = 0; h < heads; h++) {
                double total = 0;
                for (int line = h * shape.headDim(); line < (h + 1) * shape.headDim(); line++) {
                    total += lines[line];
                }
                scores[h] = settings.importance() == Importance.VECTOR ? Math.abs(total) : total;
            }
            perMember.add(scores);
        }
        return aggregate(perMember, heads, settings.aggregation());
    }

    /**
     * Scores of the model's hidden features 0 … hidden_size − 1 ({@link HiddenChannelEdit#members}): per module,
     * its parts' salience along feature d (a row, a column, or an entry), then the {@link Aggregation} over the
     * modules.
     */
    public static double[] hidden(Transformer model, TaylorSettings settings, TaylorGradients gradients) {
        int hidden = model.config().hiddenSize();
        if (settings.importance() == Importance.RANDOM) {
            return new SplittableRandom(settings.seed() - 0x9E3779B97F4A7C15L).doubles(hidden).toArray();
        }
        return aggregate(hiddenMembers(model, settings.importance(), gradients), hidden, settings.aggregation());
    }

    /** Per module of {@link HiddenChannelEdit#members}, its score of every hidden feature. */
    static List<double[]> hiddenMembers(Transformer model, Importance importance, TaylorGradients gradients) {
        List<double[]> perMember = new ArrayList<>();
        for (List<HiddenChannelEdit.Part> module : HiddenChannelEdit.members(model)) {
            INDArray lines = null;
            for (HiddenChannelEdit.Part part : module) {
                INDArray partLines = partLines(part.value(), part.tensor(), part.rows(), importance, gradients);
                lines = lines == null ? partLines : lines.addi(partLines);
            }
            double[] scores = lines.toDoubleVector();
            lines.close();
            perMember.add(importance == Importance.VECTOR ? DoubleStream.of(scores).map(Math::abs).toArray() : scores);
        }
        return perMember;
    }

    /** Per group, the {@code aggregation} of its members' scores ({@code perMember}: one array per member). */
    private static double[] aggregate(List<double[]> perMember, int count, Aggregation aggregation) {
        double[] result = new double[count];
        double[] members = new double[perMember.size()];
        for (int g = 0; g < count; g++) {
            for (int m = 0; m < members.length; m++) {
                members[m] = perMember.get(m)[g];
            }
            result[g] = aggregation.reduce(members);
        }
        return result;
    }

    /**
     * Per row (with its bias entry) or per column of a layer, the sum of the salience s: of |s| for element-wise
     * importance, of s itself for {@link Importance#VECTOR}, whose member score takes |·| of the member's total.
     */
    private static double[] lineScores(Linear layer, boolean rows, Importance importance, TaylorGradients gradients) {
        INDArray lines = partLines(layer.weight(), layer.name() + ".weight", rows, importance, gradients);
        if (rows && layer.bias() != null) {
            try (INDArray s = partLines(layer.bias(), layer.name() + ".bias", true, importance, gradients)) {
                lines.addi(s);
            }
        }
        double[] result = lines.toDoubleVector();
        lines.close();
        return result;
    }

    /** The salience of a tensor summed per row or per column; a vector's own entries. */
    private static INDArray partLines(INDArray w, String tensor, boolean rows, Importance importance,
                                      TaylorGradients gradients) {
        INDArray s = salience(w, tensor, importance, gradients);
        if (w.rank() == 1) {
            return s;
        }
        try (s) {
            return s.sum(rows ? 1 : 0);
        }
    }

    /** s per entry: W⊙g, W⊙g − ½W⊙F⊙W or W², made non-negative unless the importance is vector-wise. */
    private static INDArray salience(INDArray w, String tensor, Importance importance, TaylorGradients gradients) {
        INDArray s = switch (importance) {
            case ELEMENT1, VECTOR -> w.mul(gradients.gradient(tensor));
            case ELEMENT2 -> w.mul(gradients.gradient(tensor)).subi(w.mul(w).muli(gradients.fisher(tensor)).muli(0.5));
            case L2 -> w.mul(w);
            case RANDOM -> throw new IllegalArgumentException("random importance has no salience");
        };
        return importance == Importance.VECTOR ? s : Transforms.abs(s, false);
    }
}
