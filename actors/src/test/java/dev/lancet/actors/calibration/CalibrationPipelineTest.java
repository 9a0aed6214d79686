package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.proto.BlockSnapshot;
import dev.lancet.proto.DType;
import dev.lancet.proto.FactorSums;
import dev.lancet.proto.LayerActivations;
import dev.lancet.proto.TensorBlock;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The actor pipeline (with every message serialized through its protobuf form) against the direct loop in
 * fp64: same factors to 1e-10, also when a layer actor crashes mid-stream and replays from its snapshot.
 */
class CalibrationPipelineTest {

    private static ActorTestKit testKit;
    private static Checkpoint checkpoint;
    private static Transformer model;
    private static CalibrationSource source;
    private static KfacState direct;

    @BeforeAll
    static void setUp() {
        testKit = ActorTestKit.create(ConfigFactory.parseString("pekko.actor.serialize-messages = on")
                .withFallback(ConfigFactory.load()));
        checkpoint = Checkpoint.open(Fixtures.tinyOpt());
        model = Transformer.load(checkpoint, DataType.DOUBLE);
        try (Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 9, 24, Sampling.RANDOM, 5);
        }
        direct = KfacState.forLayers(model.linears());
        DirectCalibration.accumulate(model, source, 2, Precision.FP64, direct, done -> { });
    }

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
        checkpoint.close();
    }

    private static CalibrationCoordinator.Settings settings() {
        return new CalibrationCoordinator.Settings(2, 1, 2, Precision.FP64);
    }

    @Test
    void pipelineMatchesDirectLoop() throws Exception {
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(testKit.system(), "clean", model, source,
                settings(), SnapshotStore.inMemory(), null, null);
        KfacState state = CalibrationPipeline.start(testKit.system(), run).toCompletableFuture().get(5, TimeUnit.MINUTES);
        assertSameFactors(direct, state);
    }

    @Test
    void crashedLayerActorResumesWithoutLosingOrDoubleCounting() throws Exception {
        TestProbe<CalibrationCoordinator.Progress> progress = testKit.createTestProbe();
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(testKit.system(), "crash", model, source,
                settings(), SnapshotStore.inMemory(), null, progress.getRef());
        var result = CalibrationPipeline.start(testKit.system(), run);
        // after 3 of 5 batches (one snapshot taken at 2), make block 1 fail on a malformed block
        while (progress.receiveMessage(java.time.Duration.ofMinutes(2)).progress().getBatchesDone() < 3) {
            // keep reading progress
        }
        ActorRef<LayerActor.Command> layer = ActorRefResolver.get(testKit.system())
                .resolveActorRef(run.path().child("layer-1").toString());
        layer.tell(new LayerActor.Fold(LayerActivations.newBuilder().setBatch(99).setLayer("no.such.layer").build()));
        KfacState state = result.toCompletableFuture().get(5, TimeUnit.MINUTES);
        assertSameFactors(direct, state);
    }

    @Test
    void crashedCurvatureActorResumesFromItsStore() throws Exception {
        TestProbe<CalibrationCoordinator.Progress> progress = testKit.createTestProbe();
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(testKit.system(), "curvature-crash",
                model, source, settings(), SnapshotStore.inMemory(), null, progress.getRef());
        var result = CalibrationPipeline.start(testKit.system(), run);
        while (progress.receiveMessage(java.time.Duration.ofMinutes(2)).progress().getBatchesDone() < 3) {
            // keep reading progress
        }
        ActorRef<CurvatureActor.Command> curvature = ActorRefResolver.get(testKit.system())
                .resolveActorRef(run.path().child("curvature").toString());
        FactorSums corrupt = FactorSums.newBuilder().setLayer("x")
                .setSumA(TensorBlock.newBuilder().addShape(2).addShape(2).setDtype(DType.F64)).build();
        curvature.tell(new CurvatureActor.BlockState(BlockSnapshot.newBuilder().setBlock(0).addFactors(corrupt).build()));
        KfacState state = result.toCompletableFuture().get(5, TimeUnit.MINUTES);
        assertSameFactors(direct, state);
    }

    @Test
    void baseStateIsMergedIn() throws Exception {
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(testKit.system(), "base", model, source,
                settings(), SnapshotStore.inMemory(), direct.copy(), null);
        KfacState state = CalibrationPipeline.start(testKit.system(), run).toCompletableFuture().get(5, TimeUnit.MINUTES);
        KfacState twice = direct.copy();
        twice.merge(direct);
        assertSameFactors(twice, state);
    }

    static void assertSameFactors(KfacState want, KfacState got) {
        assertEquals(want.factors().size(), got.factors().size());
        for (KfacFactor w : want.factors()) {
            KfacFactor g = got.get(w.layer());
            assertEquals(w.tokens(), g.tokens(), w.layer());
            double scaleA = w.sumA().norm2Number().doubleValue();
            double scaleG = w.sumG().norm2Number().doubleValue();
            assertTrue(w.sumA().sub(g.sumA()).norm2Number().doubleValue() <= 1e-10 * scaleA, w.layer() + " A");
            assertTrue(w.sumG().sub(g.sumG()).norm2Number().doubleValue() <= 1e-10 * scaleG, w.layer() + " G");
        }
    }
}
