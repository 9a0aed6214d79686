package dev.lancet.actors.calibration;

import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;

/** Test kits load conf/application.conf (the typed testkit would not) and send every message over the wire form. */
final class TestKits {

    private TestKits() {
    }

    static ActorTestKit serializing() {
        return ActorTestKit.create(ConfigFactory.parseString("pekko.actor.serialize-messages = on")
                .withFallback(ConfigFactory.load()));
    }
}
