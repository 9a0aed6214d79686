package dev.lancet.actors;

import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;

/** Test kits load conf/application.conf (the typed testkit would not) and send every message over the wire form. */
public final class TestKits {

    private TestKits() {
    }

    public static ActorTestKit serializing() {
        return ActorTestKit.create(ConfigFactory.parseString("pekko.actor.serialize-messages = on")
                .withFallback(ConfigFactory.load()));
    }
}
