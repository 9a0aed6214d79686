package dev.lancet.actors.calibration;

import dev.lancet.actors.TestKits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.Precision;
import java.time.Duration;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LayerActorTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    private static final List<KfacFactor.Shape> LAYERS = List.of(KfacFactor.Shape.of(Layouts.linear("l1", 3, 2, true)),
            KfacFactor.Shape.of(Layouts.linear("l2", 2, 4, false)));
    private static final INDArray A1 = Nd4j.createFromArray(new double[][] {{1, 2, 3}, {-1, 0, 2}});
    private static final INDArray G1 = Nd4j.createFromArray(new double[][] {{0.5, -1}, {2, 1}});
    private static final INDArray A2 = Nd4j.createFromArray(new double[][] {{1, 1}, {0, 3}});
    private static final INDArray G2 = Nd4j.createFromArray(new double[][] {{1, 0, 0, 2}, {0, -1, 1, 0}});

    private static LayerActor.Fold fold(long batch, String layer, INDArray a, INDArray g) {
        return new LayerActor.Fold(batch, layer, a.dup(), g.dup()); // the receiver frees what it is handed
    }

    private record Started(ActorRef<LayerActor.Command> layer, TestProbe<CurvatureActor.Command> curvature,
                           TestProbe<CalibrationCoordinator.Command> coordinator) {
    }

    private static Started start(BlockSums restored) {
        TestProbe<CurvatureActor.Command> curvature = testKit.createTestProbe();
        TestProbe<CalibrationCoordinator.Command> coordinator = testKit.createTestProbe();
        ActorRef<LayerActor.Command> layer = testKit.spawn(LayerActor.create(new LayerActor.Run(7, LAYERS,
                Precision.FP64, curvature.getRef(), coordinator.getRef()), new BlockPool()));
        CurvatureActor.Restore restore = curvature.expectMessageClass(CurvatureActor.Restore.class);
        assertEquals(7, restore.block());
        restore.replyTo().tell(new LayerActor.Restored(restored));
        return new Started(layer, curvature, coordinator);
    }

    @Test
    void foldsEachBatchOnceAndReportsWhenTheBlockHasIt() {
        Started s = start(BlockSums.empty(7));
        assertEquals(0, s.coordinator().expectMessageClass(CalibrationCoordinator.Recovered.class).recovered().getBatchesCount());
        s.layer().tell(fold(0, "l1", A1, G1));
        s.coordinator().expectNoMessage(Duration.ofMillis(200));
        s.layer().tell(fold(0, "l2", A2, G2));
        CalibrationCoordinator.Folded folded = s.coordinator().expectMessageClass(CalibrationCoordinator.Folded.class);
        assertEquals(7, folded.folded().getBlock());
        assertEquals(0, folded.folded().getBatch());
        s.layer().tell(fold(0, "l1", A1, G1)); // a replay: ignored
        s.coordinator().expectNoMessage(Duration.ofMillis(200));

        s.layer().tell(new LayerActor.Snapshot(3, false, s.curvature().getRef()));
        BlockSums snapshot = s.curvature().expectMessageClass(CurvatureActor.BlockState.class).sums();
        assertEquals(3, snapshot.round());
        KfacFactor l1 = snapshot.layers().get(0).factor();
        assertEquals(2, l1.tokens());
        // Σ ããᵀ with ã = [a; 1], by hand: rows (1,2,3,1) and (−1,0,2,1)
        INDArray expectedA = Nd4j.createFromArray(new double[][] {
                {2, 2, 1, 0}, {2, 4, 6, 2}, {1, 6, 13, 5}, {0, 2, 5, 2}});
        assertEquals(expectedA, l1.sumA());
        assertEquals(G1.transpose().mmul(G1).castTo(DataType.DOUBLE), l1.sumG());
        assertEquals(Set.of(0L), snapshot.layers().get(1).batches());
    }

    @Test
    void restoresFromItsSnapshotAndReportsWhatItHolds() {
        LayerSums l1 = new LayerSums(KfacFactor.fromSums("l1", true, Nd4j.eye(4).castTo(DataType.DOUBLE),
                Nd4j.eye(2).castTo(DataType.DOUBLE), 5), new TreeSet<>(List.of(0L, 1L)));
        LayerSums l2 = new LayerSums(KfacFactor.fromSums("l2", false, Nd4j.eye(2).castTo(DataType.DOUBLE),
                Nd4j.eye(4).castTo(DataType.DOUBLE), 5), new TreeSet<>(List.of(1L)));
        Started s = start(new BlockSums(7, 1, List.of(l1, l2)));
        // only batch 1 is held by every layer
        assertEquals(List.of(1L), s.coordinator().expectMessageClass(CalibrationCoordinator.Recovered.class)
                .recovered().getBatchesList());
        s.layer().tell(fold(0, "l2", A2, G2));
        assertEquals(0, s.coordinator().expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        s.layer().tell(new LayerActor.Snapshot(1, false, s.curvature().getRef()));
        KfacFactor restored = s.curvature().expectMessageClass(CurvatureActor.BlockState.class).sums().layers().get(1).factor();
        assertEquals(7, restored.tokens());
        assertTrue(restored.sumA().equalsWithEps(Nd4j.eye(2).castTo(DataType.DOUBLE)
                .add(A2.transpose().mmul(A2).castTo(DataType.DOUBLE)), 1e-12));
    }

    @Test
    void theLastSnapshotHandsTheSumsOverAndStops() {
        Started s = start(BlockSums.empty(7));
        s.coordinator().expectMessageClass(CalibrationCoordinator.Recovered.class);
        s.layer().tell(fold(0, "l1", A1, G1));
        s.layer().tell(new LayerActor.Snapshot(2, true, s.curvature().getRef()));
        BlockSums last = s.curvature().expectMessageClass(CurvatureActor.BlockState.class).sums();
        assertEquals(2, last.layers().get(0).factor().tokens());
        s.curvature().expectTerminated(s.layer());
    }

    /** A layer wide enough that folding its random blocks in another order changes some bits of the sums. */
    private static final List<KfacFactor.Shape> WIDE = List.of(new KfacFactor.Shape("w", false, 40, 30));

    /**
     * Random (a, g) of batch {@code batch}, of magnitudes that differ from batch to batch, folded in fp64 (fp32 blocks
     * of a few batches would add up exactly in the fp64 sums, in any order).
     */
    private static INDArray[] randomBlock(long batch) {
        Nd4j.getRandom().setSeed(1000 + batch);
        return new INDArray[] {Nd4j.randn(DataType.DOUBLE, 50, 40).muli(Math.pow(3, batch)),
                Nd4j.randn(DataType.DOUBLE, 50, 30)};
    }

    private static KfacFactor foldedDirectly(long... batches) {
        KfacFactor factor = KfacFactor.empty(WIDE.get(0));
        for (long batch : batches) {
            INDArray[] ag = randomBlock(batch);
            factor.add(ag[0], ag[1], Precision.FP64);
        }
        return factor;
    }

    private static double[] bits(KfacFactor factor) {
        return Nd4j.concat(0, factor.sumA().reshape(-1), factor.sumG().reshape(-1)).data().asDouble();
    }

    private static LayerActor.Fold randomFold(long batch) {
        INDArray[] ag = randomBlock(batch);
        return new LayerActor.Fold(batch, "w", ag[0], ag[1]);
    }

    @Test
    void foldsInBatchOrderWhateverTheArrivalOrder() {
        // the check can fail: on these blocks another order gives other bits
        assertFalse(Arrays.equals(bits(foldedDirectly(0, 1, 2, 3)),
                bits(foldedDirectly(3, 1, 0, 2))));
        TestProbe<CurvatureActor.Command> curvature = testKit.createTestProbe();
        TestProbe<CalibrationCoordinator.Command> coordinator = testKit.createTestProbe();
        ActorRef<LayerActor.Command> layer = testKit.spawn(LayerActor.create(new LayerActor.Run(7, WIDE, Precision.FP64, curvature.getRef(), coordinator.getRef()), new BlockPool()));
        curvature.expectMessageClass(CurvatureActor.Restore.class).replyTo().tell(new LayerActor.Restored(BlockSums.empty(7)));
        coordinator.expectMessageClass(CalibrationCoordinator.Recovered.class);
        for (long batch : new long[] {3, 1, 0, 2}) {
            layer.tell(randomFold(batch));
        }
        for (long batch = 0; batch < 4; batch++) {
            assertEquals(batch, coordinator.expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        }
        layer.tell(new LayerActor.Snapshot(1, true, curvature.getRef()));
        BlockSums last = curvature.expectMessageClass(CurvatureActor.BlockState.class).sums();
        assertArrayEquals(bits(foldedDirectly(0, 1, 2, 3)),
                bits(last.layers().get(0).factor()));
        assertEquals(1, coordinator.expectMessageClass(CalibrationCoordinator.HandedOver.class).handedOver().getRound());
    }

    /**
     * A cluster entity learns its run from its first message, restores, folds; its member dies (the entity stops) after
     * a snapshot; a new incarnation, started by a later batch, restores that snapshot, reports what it holds, takes the
     * replayed batch, and ends with the bits of folding every batch once in order.
     */
    @Test
    void anEntityRestartedMidRunReplaysToTheSameSums() {
        TestProbe<CurvatureActor.Command> curvature = testKit.createTestProbe();
        TestProbe<CalibrationCoordinator.Command> coordinator = testKit.createTestProbe();
        LayerActor.Run run = new LayerActor.Run(7, WIDE, Precision.FP64, curvature.getRef(),
                coordinator.getRef());
        ActorRefResolver resolver = ActorRefResolver.get(testKit.system());

        ActorRef<LayerActor.Command> first = testKit.spawn(LayerActor.entity());
        first.tell(LayerActor.ToEntity.of(run, randomFold(0), resolver));
        first.tell(LayerActor.ToEntity.of(run, randomFold(1), resolver));
        CurvatureActor.Restore restore = curvature.expectMessageClass(CurvatureActor.Restore.class);
        assertEquals(7, restore.block());
        restore.replyTo().tell(new LayerActor.Restored(BlockSums.empty(7)));
        assertEquals(0, coordinator.expectMessageClass(CalibrationCoordinator.Recovered.class).recovered().getBatchesCount());
        assertEquals(0, coordinator.expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        assertEquals(1, coordinator.expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        first.tell(LayerActor.ToEntity.of(run, new LayerActor.Snapshot(1, false, curvature.getRef()), resolver));
        BlockSums snapshot = curvature.expectMessageClass(CurvatureActor.BlockState.class).sums();
        first.tell(LayerActor.ToEntity.of(run, randomFold(2), resolver)); // folded, then lost with the member
        coordinator.expectMessageClass(CalibrationCoordinator.Folded.class);
        testKit.stop(first);

        ActorRef<LayerActor.Command> second = testKit.spawn(LayerActor.entity());
        second.tell(LayerActor.ToEntity.of(run, randomFold(3), resolver));
        curvature.expectMessageClass(CurvatureActor.Restore.class).replyTo().tell(new LayerActor.Restored(snapshot));
        assertEquals(List.of(0L, 1L), coordinator.expectMessageClass(CalibrationCoordinator.Recovered.class)
                .recovered().getBatchesList());
        coordinator.expectNoMessage(Duration.ofMillis(200)); // batch 3 waits for batch 2
        second.tell(LayerActor.ToEntity.of(run, randomFold(2), resolver)); // the replay
        assertEquals(2, coordinator.expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        assertEquals(3, coordinator.expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        second.tell(LayerActor.ToEntity.of(run, new LayerActor.Snapshot(2, true, curvature.getRef()), resolver));
        BlockSums last = curvature.expectMessageClass(CurvatureActor.BlockState.class).sums();
        assertArrayEquals(bits(foldedDirectly(0, 1, 2, 3)),
                bits(last.layers().get(0).factor()));
        assertEquals(Set.of(0L, 1L, 2L, 3L), last.layers().get(0).batches());
        curvature.expectTerminated(second);
    }
}
