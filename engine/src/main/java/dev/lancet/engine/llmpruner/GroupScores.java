package dev.lancet.engine.llmpruner;

import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.BlockGroups;
import dev.lancet.engine.prune.BlockGroups.Kind;
import dev.lancet.engine.prune.BlockGroups.Member;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * LLM-Pruner's score of every coupled group of one kind in one block ({@link BlockGroups}: an MLP channel, or a
 * key/value head with its query heads, never the reference's stride-folded GQA importance): each member's
 * {@link Importance} over its rows (bias entries included) or columns in its layer, then the {@link Aggregation}
 * over the members.
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
        double[] result = new double[count];
        double[] members = new double[perMember.size()];
        for (int g = 0; g < count; g++) {
            for (int m = 0; m < members.length; m++) {
                members[m] = perMember.get(m)[g];
            }
            result[g] = settings.aggregation().reduce(members);
        }
        return result;
    }

    /**
     * Per row (with its bias entry) or per column of a layer, the sum of the salience s: of |s| for element-wise
     * importance, of s itself for {@link Importance#VECTOR}, whose member score takes |·| of the member's total.
     */
    private static double[] lineScores(Linear layer, boolean rows, Importance importance, TaylorGradients gradients) {
        INDArray lines;
        try (INDArray s = salience(layer.weight(), layer.name() + ".weight", importance, gradients)) {
            lines = s.sum(rows ? 1 : 0);
        }
        if (rows && layer.bias() != null) {
            try (INDArray s = salience(layer.bias(), layer.name() + ".bias", importance, gradients)) {
                lines.addi(s);
            }
        }
        double[] result = lines.toDoubleVector();
        lines.close();
        return result;
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
