"""No module of the pump logic reaches into another object's private
attributes: a name that starts with one underscore is its class's own
business, so a change inside a class cannot break a caller it never heard
of. What other modules need goes through a method (the controller's
`take_counter`, `set_patient`, `apply_settings`, `restore_alarms`, say).

Allowed: `self._x` and `cls._x`; the enclosing class's own name
(`StateCodec._apply` inside StateCodec); and a new instance a classmethod
builds with `cls(...)` and fills before returning it (a record's restore)."""
import ast
import os

from mpenv import ROOT

PUMP = os.path.join(ROOT, "firmware", "pump")


def _own_instances(function):
    """Names a function binds to `cls(...)`."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "cls":
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def _reaches(tree):
    """(line, expression) of each private attribute used on another object."""
    found = []

    def visit(node, class_name, allowed):
        if isinstance(node, ast.ClassDef):
            class_name = node.name
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            allowed = {"self", "cls"} | _own_instances(node) | ({class_name} if class_name else set())
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in allowed):
                found.append((node.lineno, ast.unparse(node)))
        for child in ast.iter_child_nodes(node):
            visit(child, class_name, allowed)

    visit(tree, None, {"self", "cls"})
    return found


def test_no_pump_module_reaches_into_another_objects_private_attributes():
    reaches = []
    for name in sorted(os.listdir(PUMP)):
        if name.endswith(".py"):
            with open(os.path.join(PUMP, name)) as f:
                tree = ast.parse(f.read())
            reaches += ["pump/%s:%d %s" % (name, line, text) for line, text in _reaches(tree)]
    assert reaches == []


def test_the_walk_sees_a_reach_when_there_is_one():
    tree = ast.parse("def apply(ctl):\n    ctl._on_alarm_event(1)\n\nclass A:\n    def f(self, other):\n"
                     "        return other._x + self._y\n")
    assert [text for _line, text in _reaches(tree)] == ["ctl._on_alarm_event", "other._x"]
