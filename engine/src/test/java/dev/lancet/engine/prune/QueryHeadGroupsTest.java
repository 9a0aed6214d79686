package dev.lancet.engine.prune;

import static dev.lancet.engine.prune.KroneckerReference.all;
import static dev.lancet.engine.prune.KroneckerReference.damped;
import static dev.lancet.engine.prune.KroneckerReference.kron;
import static dev.lancet.engine.prune.KroneckerReference.obs;
import static dev.lancet.engine.prune.TestLayer.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelConfig.NormKind;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.stream.DoubleStream;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Query-head units of GQA blocks (query head j of every key/value group): their OBS cost against the explicit
 * Kronecker matrix, a unit zeroed by hand removed without changing the logits, and a block's removal count against
 * what the structural edit of its report really removes.
 */
class QueryHeadGroupsTest {

    @TempDir
    Path tmp;

    /** Hidden 24, 6 query heads of width 4 in 2 key/value groups, 16 MLP channels, biases everywhere; one block. */
    private static final SyntheticCheckpoint.Spec GQA = new SyntheticCheckpoint.Spec("llama", 4096, 24, 24, 1, 6, 2,
            16, 32, true, false, false, DType.F32, 0.2, 5);

    /**
     * An o layer of 6 inputs (6 query heads of width 1 in 2 groups of 3) and 5 outputs, with a bias: unit j is
     * columns j and 3 + j, and costs ½ θ_Qᵀ([F⁻¹]_QQ)⁻¹θ_Q with F = G ⊗ A_d over them.
     */
    @Test
    void aQueryHeadUnitCostsTheObsCostOfItsColumnsUnderTheKroneckerCurvature() {
        TestLayer layer = TestLayer.random(11, 5, 6, true);
        BlockLayout block = oneBlock(6, 2, 1, 6);
        BlockGroups groups = new BlockGroups(block);
        assertEquals(3, groups.queryHeadUnits());
        assertArrayEquals(new int[] {1, 4}, groups.queryHeadMember(LinearRole.O, 1).indices());
        assertEquals(List.of(1, 4), groups.queryHeads(1));
        Damping damping = new Damping(0.1, 0.05);
        int columns = layer.columns();
        double[][] f = kron(layer.g, damped(layer.a, damping.a(), all(columns)),
                IntStream.range(0, layer.rows * columns).toArray());
        double[] want = IntStream.range(0, 3).mapToDouble(j -> obs(f, layer.theta(), IntStream.range(0, layer.rows)
                .flatMap(i -> IntStream.of(j, 3 + j).map(c -> i * columns + c)).toArray()).cost()).toArray();
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping)) {
            assertClose(want, groups.queryHeadCosts(c, layer.linear(DataType.DOUBLE)), 1e-10, "query-head units");
        }
        // a query head removed with its key/value group is one column, not two
        assertArrayEquals(new int[] {0, 1, 2, 4}, groups.outputColumns(List.of(0), List.of(1)));
        // parameters: per unit one q row (5 inputs) and one o column (5 outputs) per group
        assertEquals(2 * (5 + 5), groups.queryHeadParameters());
    }

    @Test
    void multiHeadBlocksHaveNoQueryHeadUnits() {
        BlockGroups groups = new BlockGroups(oneBlock(4, 4, 2, 8));
        assertEquals(0, groups.queryHeadUnits());
        assertThrows(IllegalArgumentException.class, () -> groups.queryHeads(0));
    }

    /**
     * Unit 1 (query heads 1 and 4) zeroed by hand costs nothing, so τ = 0 takes it and nothing else; the shrunk model
     * computes what the zeroed one did, and the unit's count is what the edit removed.
     */
    @Test
    void aQueryHeadUnitZeroedByHandLeavesTheLogitsUnchanged() {
        try (Checkpoint checkpoint = open(); Transformer model = Transformer.load(checkpoint, DataType.DOUBLE)) {
            BlockLayout block = model.layout().block(0);
            BlockGroups groups = new BlockGroups(block);
            Linear q = model.blocks().get(0).attention().q();
            Linear o = model.blocks().get(0).attention().o();
            for (int row : groups.queryHeadMember(LinearRole.Q, 1).indices()) {
                q.weight().getRow(row).assign(0);
                q.bias().putScalar(row, 0);
            }
            for (int column : groups.queryHeadMember(LinearRole.O, 1).indices()) {
                o.weight().getColumn(column).assign(0);
            }
            TokenBatch tokens = new TokenBatch(2, 8, new SplittableRandom(3).ints(16, 0, GQA.vocab()).toArray());
            INDArray zeroed = model.logits(tokens);
            long before = model.parameterCount();
            UnitReport report;
            long counted;
            try (KfacState curvature = calibrate(model, checkpoint);
                 PruneUnit unit = ShotUnits.open(0, model, curvature,
                         PruneSettings.defaults(PruneMethod.SURGEON, Structure.GROUPS))) {
                counted = unit.count(0);
                report = unit.apply(0);
            }
            assertEquals(List.of(1, 4), report.heads());
            assertEquals(List.of(), report.kvHeads());
            assertEquals(List.of(), report.channels());
            assertEquals(groups.queryHeadParameters(), counted);
            try (Transformer edited = new StructuralEdit().dropHeads(0, report.heads()).applyTo(model)) {
                assertEquals(4, edited.layout().block(0).heads());
                assertEquals(before - counted, edited.parameterCount());
                INDArray logits = edited.logits(tokens);
                assertTrue(logits.sub(zeroed).amaxNumber().doubleValue() <= 1e-12 * zeroed.amaxNumber().doubleValue(),
                        "the zeroed unit contributed nothing");
            }
        }
    }

    /**
     * At every threshold between the block's costs, what the unit counts is what the structural edit of its report
     * removes: key/value groups with all their query heads, query-head units from the groups that stay (each group
     * keeps one query head and the block one group), MLP channels.
     */
    @Test
    void theCountIsWhatTheEditOfTheReportRemoves() {
        try (Checkpoint checkpoint = open(); Transformer model = Transformer.load(checkpoint, DataType.DOUBLE);
             KfacState curvature = calibrate(model, checkpoint)) {
            PruneSettings settings = PruneSettings.defaults(PruneMethod.SURGEON, Structure.GROUPS);
            long prunable = ShotUnits.prunable(model.layout());
            TreeSet<Double> thresholds = new TreeSet<>(List.of(0.0, Double.POSITIVE_INFINITY));
            boolean both = false;
            try (PruneUnit unit = ShotUnits.open(0, model, curvature, settings)) {
                // a grid fine enough to land between the block's costs per weight (1e-12 to 1e6)
                DoubleStream.iterate(1e-12, t -> t * 1.25).limit(160).forEach(thresholds::add);
                for (double tau : thresholds) {
                    UnitReport report = unit.apply(tau);
                    both |= !report.heads().isEmpty() && !report.kvHeads().isEmpty();
                    ModelLayout after = new StructuralEdit().dropHeads(0, report.heads())
                            .dropKvHeads(0, report.kvHeads()).dropChannels(0, report.channels())
                            .check(model.config(), model.names(), model.layout());
                    assertEquals(prunable - ShotUnits.prunable(after), unit.count(tau), "τ = " + tau);
                }
                UnitReport all = unit.apply(Double.POSITIVE_INFINITY);
                assertEquals(1, all.kvHeads().size());
                assertEquals(2, all.heads().size(), "two of three heads of the group that stays");
                assertEquals(GQA.intermediate() - 1, all.channels().size());
            }
            assertTrue(both, "some threshold takes a key/value group and query heads together");
        }
    }

    private Checkpoint open() {
        Path dir = tmp.resolve("gqa");
        SyntheticCheckpoint.write(GQA, dir);
        return Checkpoint.open(dir);
    }

    private static KfacState calibrate(Transformer model, Checkpoint checkpoint) {
        KfacState state = KfacState.empty(model.layout());
        try (Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"))) {
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 6, 16,
                    Sampling.RANDOM, 3);
            DirectCalibration.accumulate(model, source, 3, Precision.FP64, state, done -> { });
        }
        return state;
    }

    /** A Llama-shaped block of hidden 5 and MLP width 4 with the given heads, without biases but on o. */
    private static BlockLayout oneBlock(int heads, int kvHeads, int headDim, int attentionWidth) {
        int hidden = 5;
        return new BlockLayout(heads, kvHeads, headDim, 4, hidden, hidden, hidden, NormKind.RMS_NORM, List.of(
                new LinearLayout("q", LinearRole.Q, hidden, attentionWidth, false),
                new LinearLayout("k", LinearRole.K, hidden, kvHeads * headDim, false),
                new LinearLayout("v", LinearRole.V, hidden, kvHeads * headDim, false),
                new LinearLayout("o", LinearRole.O, attentionWidth, hidden, true),
                new LinearLayout("gate", LinearRole.GATE, hidden, 4, false),
                new LinearLayout("up", LinearRole.UP, hidden, 4, false),
                new LinearLayout("down", LinearRole.DOWN, 4, hidden, false)));
    }
}
