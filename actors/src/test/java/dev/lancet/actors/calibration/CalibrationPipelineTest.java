package dev.lancet.actors.calibration;

import static dev.lancet.engine.curvature.KfacAssertions.assertSameFactors;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The actor pipeline (with every message serialized through its protobuf form, and passed by reference) against the direct loop in
 * fp64: same factors to 1e-10, also when a layer actor crashes mid-stream and replays from its snapshot.
 */
class CalibrationPipelineTest {

    private static PipelineFixture fixture;
    private static ActorTestKit testKit;
    /** Without serialize-messages: tensors pass by reference and are freed by their receivers. */
    private static ActorTestKit localKit;
    private static Transformer model;
    private static CalibrationSource source;
    private static KfacState direct;

    @BeforeAll
    static void setUp() {
        fixture = new PipelineFixture();
        testKit = fixture.serializing;
        localKit = fixture.local;
        source = fixture.source;
        model = Transformer.load(fixture.checkpoint, DataType.DOUBLE);
        direct = KfacState.empty(model.layout());
        DirectCalibration.accumulate(model, source, 2, Precision.FP64, direct, done -> { });
    }

    @AfterAll
    static void tearDown() {
        fixture.close();
    }

    private static CalibrationCoordinator.Settings settings() {
        return new CalibrationCoordinator.Settings(2, 1, 2, Precision.FP64, 1);
    }

    private static ActorTestKit kit(boolean serializing) {
        return fixture.kit(serializing);
    }

    @ParameterizedTest(name = "serialize-messages {0}")
    @ValueSource(booleans = {true, false})
    void pipelineMatchesDirectLoop(boolean serializing) throws Exception {
        ActorTestKit kit = kit(serializing);
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(kit.system(), "clean", model, source,
                settings(), SnapshotStore.inMemory(), null, null);
        KfacState state = CalibrationPipeline.start(kit.system(), run).toCompletableFuture().get(5, TimeUnit.MINUTES);
        assertSameFactors(direct, state);
    }

    @Test
    void workersSideBySideGiveTheBitsOfOne() throws Exception {
        KfacState one = run("one-worker", new CalibrationCoordinator.Settings(2, 1, 2, Precision.FP64, 1));
        KfacState three = run("three-workers", new CalibrationCoordinator.Settings(2, 3, 2, Precision.FP64, 3));
        assertSameFactors(direct, three);
        for (KfacFactor f : one.factors()) {
            KfacFactor g = three.get(f.layer());
            assertArrayEquals(f.sumA().data().asDouble(), g.sumA().data().asDouble(), f.layer() + " A");
            assertArrayEquals(f.sumG().data().asDouble(), g.sumG().data().asDouble(), f.layer() + " G");
        }
    }

    private static KfacState run(String name, CalibrationCoordinator.Settings settings) throws Exception {
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(localKit.system(), name, model, source,
                settings, SnapshotStore.inMemory(), null, null);
        return CalibrationPipeline.start(localKit.system(), run).toCompletableFuture().get(5, TimeUnit.MINUTES);
    }

    @ParameterizedTest(name = "serialize-messages {0}")
    @ValueSource(booleans = {true, false})
    void crashedLayerActorResumesWithoutLosingOrDoubleCounting(boolean serializing) throws Exception {
        crashLayerMidStream(kit(serializing), "crash", settings());
    }

    @Test
    void withoutSnapshotsACrashedLayerActorRecomputesEverything() throws Exception {
        CalibrationCoordinator.Settings noSnapshots = new CalibrationCoordinator.Settings(2, 1, 0, Precision.FP64, 1);
        crashLayerMidStream(localKit, "crash-no-snapshots", noSnapshots);
    }

    private static void crashLayerMidStream(ActorTestKit kit, String name, CalibrationCoordinator.Settings settings)
            throws Exception {
        TestProbe<CalibrationCoordinator.Progress> progress = kit.createTestProbe();
        ActorRef<CalibrationCoordinator.Command> run = CalibrationPipeline.spawn(kit.system(), name, model, source,
                settings, SnapshotStore.inMemory(), null, progress.getRef());
        var result = CalibrationPipeline.start(kit.system(), run);
        // after 3 of 5 batches (with snapshots: one taken at 2), make block 1 fail on a malformed block
        while (progress.receiveMessage(java.time.Duration.ofMinutes(2)).progress().getBatchesDone() < 3) {
            // keep reading progress
        }
        ActorRef<LayerActor.Command> layer = ActorRefResolver.get(kit.system())
                .resolveActorRef(run.path().child("layer-1").toString());
        layer.tell(new LayerActor.Fold(99, "no.such.layer", Nd4j.zeros(1, 1), Nd4j.zeros(1, 1)));
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
        KfacFactor stranger = KfacFactor.empty(Layouts.linear("no.such.layer", 2, 2, false));
        curvature.tell(new CurvatureActor.BlockState(new BlockSums(0, 99, List.of(new LayerSums(stranger, new TreeSet<>())))));
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
}
