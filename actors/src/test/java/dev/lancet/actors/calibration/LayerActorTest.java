package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.proto.BlockSnapshot;
import dev.lancet.proto.FactorSums;
import dev.lancet.proto.LayerActivations;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
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

    private static final List<LinearSpec> LAYERS = List.of(new LinearSpec("l1", 3, 2, true), new LinearSpec("l2", 2, 4, false));
    private static final INDArray A1 = Nd4j.createFromArray(new double[][] {{1, 2, 3}, {-1, 0, 2}});
    private static final INDArray G1 = Nd4j.createFromArray(new double[][] {{0.5, -1}, {2, 1}});
    private static final INDArray A2 = Nd4j.createFromArray(new double[][] {{1, 1}, {0, 3}});
    private static final INDArray G2 = Nd4j.createFromArray(new double[][] {{1, 0, 0, 2}, {0, -1, 1, 0}});

    private static LayerActor.Fold fold(long batch, String layer, INDArray a, INDArray g) {
        return new LayerActor.Fold(LayerActivations.newBuilder().setBatch(batch).setLayer(layer)
                .setA(TensorBlocks.toProto(a)).setG(TensorBlocks.toProto(g)).build());
    }

    private record Started(ActorRef<LayerActor.Command> layer, TestProbe<CurvatureActor.Command> curvature,
                           TestProbe<CalibrationCoordinator.Command> coordinator) {
    }

    private static Started start(BlockSnapshot restored) {
        TestProbe<CurvatureActor.Command> curvature = testKit.createTestProbe();
        TestProbe<CalibrationCoordinator.Command> coordinator = testKit.createTestProbe();
        ActorRef<LayerActor.Command> layer = testKit.spawn(LayerActor.create(7, LAYERS, Precision.FP64,
                curvature.getRef(), coordinator.getRef()));
        CurvatureActor.Restore restore = curvature.expectMessageClass(CurvatureActor.Restore.class);
        assertEquals(7, restore.block());
        restore.replyTo().tell(new LayerActor.Restored(restored));
        return new Started(layer, curvature, coordinator);
    }

    @Test
    void foldsEachBatchOnceAndReportsWhenTheBlockHasIt() {
        Started s = start(BlockSnapshot.newBuilder().setBlock(7).build());
        assertEquals(0, s.coordinator().expectMessageClass(CalibrationCoordinator.Recovered.class).recovered().getBatchesCount());
        s.layer().tell(fold(0, "l1", A1, G1));
        s.coordinator().expectNoMessage(Duration.ofMillis(200));
        s.layer().tell(fold(0, "l2", A2, G2));
        CalibrationCoordinator.Folded folded = s.coordinator().expectMessageClass(CalibrationCoordinator.Folded.class);
        assertEquals(7, folded.folded().getBlock());
        assertEquals(0, folded.folded().getBatch());
        s.layer().tell(fold(0, "l1", A1, G1)); // a replay: ignored
        s.coordinator().expectNoMessage(Duration.ofMillis(200));

        s.layer().tell(new LayerActor.Snapshot(3, s.curvature().getRef()));
        BlockSnapshot snapshot = s.curvature().expectMessageClass(CurvatureActor.BlockState.class).snapshot();
        assertEquals(3, snapshot.getRound());
        KfacFactor l1 = TensorBlocks.toFactor(snapshot.getFactors(0));
        assertEquals(2, l1.tokens());
        // Σ ããᵀ with ã = [a; 1], by hand: rows (1,2,3,1) and (−1,0,2,1)
        INDArray expectedA = Nd4j.createFromArray(new double[][] {
                {2, 2, 1, 0}, {2, 4, 6, 2}, {1, 6, 13, 5}, {0, 2, 5, 2}});
        assertEquals(expectedA, l1.sumA());
        assertEquals(G1.transpose().mmul(G1).castTo(DataType.DOUBLE), l1.sumG());
        assertEquals(List.of(0L), snapshot.getFactors(1).getBatchesList());
    }

    @Test
    void restoresFromItsSnapshotAndReportsWhatItHolds() {
        FactorSums l1 = TensorBlocks.toProto(KfacFactor.fromSums("l1", true, Nd4j.eye(4).castTo(DataType.DOUBLE),
                Nd4j.eye(2).castTo(DataType.DOUBLE), 5), List.of(0L, 1L));
        FactorSums l2 = TensorBlocks.toProto(KfacFactor.fromSums("l2", false, Nd4j.eye(2).castTo(DataType.DOUBLE),
                Nd4j.eye(4).castTo(DataType.DOUBLE), 5), List.of(1L));
        Started s = start(BlockSnapshot.newBuilder().setBlock(7).addFactors(l1).addFactors(l2).build());
        // only batch 1 is held by every layer
        assertEquals(List.of(1L), s.coordinator().expectMessageClass(CalibrationCoordinator.Recovered.class)
                .recovered().getBatchesList());
        s.layer().tell(fold(0, "l2", A2, G2));
        assertEquals(0, s.coordinator().expectMessageClass(CalibrationCoordinator.Folded.class).folded().getBatch());
        s.layer().tell(new LayerActor.Snapshot(1, s.curvature().getRef()));
        KfacFactor restored = TensorBlocks.toFactor(
                s.curvature().expectMessageClass(CurvatureActor.BlockState.class).snapshot().getFactors(1));
        assertEquals(7, restored.tokens());
        assertTrue(restored.sumA().equalsWithEps(Nd4j.eye(2).castTo(DataType.DOUBLE)
                .add(A2.transpose().mmul(A2).castTo(DataType.DOUBLE)), 1e-12));
    }
}
