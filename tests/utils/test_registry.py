"""Registry: registration by class name and by explicit name, lookup errors, iteration."""
import pytest

from ov_avss.utils.registry import Registry


def test_register_by_class_name_and_by_explicit_name():
    registry = Registry("THING")

    @registry.register()
    class Widget:
        pass

    registry.register(Widget, name="widget_alias")

    @registry.register(name="gadget")
    class Gadget:
        pass

    assert registry.get("Widget") is Widget and registry.get("widget_alias") is Widget
    assert registry.get("gadget") is Gadget and "Gadget" not in registry
    assert list(registry) == [("Widget", Widget), ("widget_alias", Widget), ("gadget", Gadget)]
    assert registry.names() == ["Widget", "gadget", "widget_alias"] and len(registry) == 3


def test_duplicate_name_and_unknown_name_are_errors_naming_the_registry():
    registry = Registry("THING")
    registry.register(object(), name="first")
    with pytest.raises(KeyError, match="'first' is already registered in the THING registry"):
        registry.register(object(), name="first")
    with pytest.raises(KeyError, match="No object named 'second' in the THING registry; registered: first"):
        registry.get("second")
