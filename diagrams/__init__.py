"""Diagrams of live pyctrd state: pure functions to graphviz/networkx (issue: teaching environment)."""
