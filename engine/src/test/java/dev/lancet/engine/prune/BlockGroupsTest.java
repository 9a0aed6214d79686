package dev.lancet.engine.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.prune.BlockGroups.Kind;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Groups against {@link StructuralEdit}, the second construction of the same structures: after every member layer
 * of a block is corrected for the removed heads and channels, the corrected dense model (zeros where they were)
 * and the same model physically edited give the same logits (fp64, to 1e-9), the edited model keeps no zeroed row
 * or column, and a group's parameter count is what the edit removes. On a GQA Llama with biases (6 query heads in
 * 2 groups) and a multi-head OPT.
 */
class BlockGroupsTest {

    @TempDir
    Path tmp;

    /** Hidden 24, head width 4, 16 MLP channels, biases everywhere. */
    private static final SyntheticCheckpoint.Spec GQA = new SyntheticCheckpoint.Spec("llama", 61, 24, 24, 1, 6, 2, 16,
            32, true, false, false, DType.F32, 0.2, 5);
    private static final SyntheticCheckpoint.Spec OPT = new SyntheticCheckpoint.Spec("opt", 61, 16, 16, 1, 4, 4, 12, 32,
            true, true, false, DType.F32, 0.2, 3);

    @Test
    void correctedGroupsAreExactlyWhatTheEditRemovesOnGqaLlama() {
        twin(GQA, List.of(1), List.of(2, 9, 15));
    }

    @Test
    void correctedGroupsAreExactlyWhatTheEditRemovesOnMultiHeadOpt() {
        twin(OPT, List.of(0, 2), List.of(0, 11));
    }

    private Checkpoint open(SyntheticCheckpoint.Spec spec) {
        Path dir = tmp.resolve(spec.arch());
        SyntheticCheckpoint.write(spec, dir);
        return Checkpoint.open(dir);
    }

    private void twin(SyntheticCheckpoint.Spec spec, List<Integer> heads, List<Integer> channels) {
        try (Checkpoint checkpoint = open(spec)) {
            Transformer model = Transformer.load(checkpoint, DataType.DOUBLE);
            BlockLayout block = model.layout().block(0);
            BlockGroups groups = new BlockGroups(block);
            TokenBatch tokens = new TokenBatch(2, 8, new SplittableRandom(3).ints(16, 0, spec.vocab()).toArray());
            INDArray original = model.logits(tokens);
            long before = model.parameterCount();
            Map<Kind, List<Integer>> removed = Map.of(Kind.ATTENTION_HEAD, heads, Kind.MLP_CHANNEL, channels);
            for (LinearLayout shape : block.linears()) {
                Linear layer = model.linears().stream().filter(l -> l.name().equals(shape.name())).findFirst()
                        .orElseThrow();
                Kind kind = BlockGroups.kindOf(shape.role());
                try (KfacFactor factor = randomFactor(shape);
                     LayerCurvature c = LayerCurvature.of(PruneMethod.SURGEON, factor, layer, Damping.STRUCTURED)) {
                    double[] shares = groups.costShares(c, layer, shape.role());
                    assertEquals(groups.count(kind), shares.length, shape.name());
                    for (double share : shares) {
                        assertTrue(share > 0 && Double.isFinite(share), shape.name() + " share " + share);
                    }
                    groups.correct(c, layer, shape.role(), removed.get(kind));
                }
            }
            INDArray corrected = model.logits(tokens);
            assertTrue(corrected.sub(original).amaxNumber().doubleValue() > 1e-6, "the removal changed the model");
            long expected = heads.stream().mapToLong(h -> groups.parameters(Kind.ATTENTION_HEAD, h)).sum()
                    + channels.stream().mapToLong(k -> groups.parameters(Kind.MLP_CHANNEL, k)).sum();
            StructuralEdit edit = BlockGroups.addTo(BlockGroups.addTo(new StructuralEdit(), 0, Kind.ATTENTION_HEAD,
                    heads), 0, Kind.MLP_CHANNEL, channels);
            try (Transformer edited = edit.applyTo(model)) {
                INDArray logits = edited.logits(tokens);
                double scale = corrected.amaxNumber().doubleValue();
                assertTrue(logits.sub(corrected).amaxNumber().doubleValue() <= 1e-9 * scale, "edited = corrected dense");
                assertEquals(expected, before - edited.parameterCount());
                // and nothing else was zeroed: every row and column the edit keeps is still live
                for (Linear kept : edited.linears()) {
                    INDArray w = AugmentedWeight.read(kept);
                    for (boolean[] zero : List.of(AugmentedWeight.zeroRows(w), AugmentedWeight.zeroColumns(w))) {
                        for (int i = 0; i < zero.length; i++) {
                            assertFalse(zero[i], kept.name() + " keeps a zeroed row or column " + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    void membersOfAGqaHeadAreItsKeyValueRowsAndItsQueryHeads() {
        BlockGroups groups;
        try (Checkpoint checkpoint = open(GQA)) {
            groups = new BlockGroups(checkpoint.layout().block(0));
        }
        assertArrayEquals(new int[] {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23},
                groups.member(LinearRole.Q, 1).indices());
        assertArrayEquals(new int[] {4, 5, 6, 7}, groups.member(LinearRole.K, 1).indices());
        assertFalse(groups.member(LinearRole.O, 1).rows());
        assertArrayEquals(new int[] {9}, groups.member(LinearRole.DOWN, 9).indices());
    }

    /** A factor of the layer's shape with positive definite means (A with the bias's 1 column). */
    private static KfacFactor randomFactor(LinearLayout shape) {
        INDArray x = Nd4j.randn(DataType.DOUBLE, 4L * shape.inputsWithBias(), shape.inputsWithBias());
        if (shape.bias()) {
            x.getColumn(shape.in()).assign(1);
        }
        INDArray y = Nd4j.randn(DataType.DOUBLE, 4L * shape.out(), shape.out());
        return KfacFactor.fromMeans(shape.name(), shape.bias(), x.transpose().mmul(x).divi(x.rows()),
                y.transpose().mmul(y).divi(y.rows()), 100);
    }
}
